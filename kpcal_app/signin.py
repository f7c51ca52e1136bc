"""Who is signed in, and a link opened before sign-in landing where it points after it.

:func:`login_configured` and :func:`signed_in_user` say who is signed in.

``st.login`` sends the browser to the identity provider, which sends it back to
``/oauth2callback``, and Streamlit then to the app's root: the address the person
opened (a page, ``?project=…&sample=…&zoom=…``) is lost on the way. So the
sign-in page keeps it in the browser tab's ``sessionStorage`` (which survives the
round trip through the provider, and is the tab's own), and the first page shown
after sign-in takes it out and goes there (:data:`RETURN_SCRIPT`).

The kept address is treated as written by anyone: the browser goes back to it
only if it is a path of this app on this server (same origin, under the app's
base path, one of its pages) and then with only the query keys the app reads
(:data:`kpcal_app.address.ADDRESS_KEYS`), each value at most
:data:`MAX_VALUE_CHARS` characters; anything else is dropped. What the address
then names is checked by the app as for any link (a project outside the data
root is refused). The server reads nothing of it before sign-in.
"""

from __future__ import annotations

import json

import streamlit as st

from .address import ADDRESS_KEYS

#: The ``sessionStorage`` key of the address wanted before sign-in.
STORAGE_KEY = "kpcal-wanted-address"
#: Longest query value carried through sign-in (a project path).
MAX_VALUE_CHARS = 4096

# On the sign-in page: keep the address opened (none at the app's root without a query).
KEEP_SCRIPT = """<script>
(() => {
  const base = BASE;
  try {
    const path = window.location.pathname.endsWith("/")
      ? window.location.pathname : window.location.pathname + "/";
    if (path === base && !window.location.search) sessionStorage.removeItem(STORAGE_KEY);
    else sessionStorage.setItem(STORAGE_KEY, window.location.pathname + window.location.search);
  } catch (error) {}  // no storage (a private window's policy): the root after sign-in
})();
</script>"""

# After sign-in: go to the address kept, if it is one of this app's.
RETURN_SCRIPT = """<script>
(() => {
  const base = BASE, pages = PAGES, keys = KEYS;
  let wanted = null;
  try {
    wanted = sessionStorage.getItem(STORAGE_KEY);
    sessionStorage.removeItem(STORAGE_KEY);
  } catch (error) { return; }
  if (typeof wanted !== "string" || !wanted.startsWith("/") || wanted.length > 16384) return;
  let url;
  try { url = new URL(wanted, window.location.origin); } catch (error) { return; }
  if (url.origin !== window.location.origin) return;
  const path = url.pathname.endsWith("/") ? url.pathname : url.pathname + "/";
  if (!path.startsWith(base)) return;
  const page = path.slice(base.length, -1);
  if (!pages.includes(page)) return;
  const query = new URLSearchParams();
  for (const [key, value] of url.searchParams) {
    if (keys.includes(key) && !query.has(key) && value.length <= MAX_VALUE_CHARS) query.set(key, value);
  }
  const target = base + page + (query.toString() ? "?" + query.toString() : "");
  if (target !== window.location.pathname + window.location.search) window.location.replace(target);
})();
</script>"""


def _base_path() -> str:
    """The app's path on the server, ``/`` or ``/kpcal/`` (``server.baseUrlPath``)."""
    base = str(st.get_option("server.baseUrlPath") or "").strip("/")
    return f"/{base}/" if base else "/"


def _script(template: str, pages: list[str]) -> str:
    values = {
        "STORAGE_KEY": STORAGE_KEY,
        "MAX_VALUE_CHARS": MAX_VALUE_CHARS,
        "BASE": _base_path(),
        "PAGES": ["", *pages],
        "KEYS": list(ADDRESS_KEYS),
    }
    for name, value in values.items():
        # JSON in a script: "<" written as \\u003c, so no value can end the script.
        template = template.replace(name, json.dumps(value).replace("<", "\\u003c"))
    return template


def keep_wanted_address(pages: list[str]) -> None:
    """On the sign-in page: keep the address opened for after sign-in.

    ``pages`` are the app's ``url_path`` names.
    """
    st.html(_script(KEEP_SCRIPT, pages), unsafe_allow_javascript=True)


def return_to_wanted_address(pages: list[str]) -> None:
    """On pages after sign-in: go to the address kept before it, once (then forgotten)."""
    st.html(_script(RETURN_SCRIPT, pages), unsafe_allow_javascript=True)


def login_configured() -> bool:
    """True when the server's secrets configure an identity provider for ``st.login``."""
    try:
        return "auth" in st.secrets
    except Exception:  # no secrets.toml: a laptop
        return False


def signed_in_user() -> str | None:
    """The signed-in user's e-mail on a server with sign-in, else ``None``."""
    if not login_configured() or not st.user.is_logged_in:
        return None
    email = st.user.get("email")
    return str(email) if email else None
