"""kpcal_app: what the Streamlit pages share and nothing computes.

- ``state``: every ``st.session_state`` key, and this session's working data (annotations as
  saved and held, recent click views, save message, annotator, view size)
- ``address``: where the person is (project, page, sample, zoom) in the address: read once per
  session, kept on every page
- ``projects``: the project this session works on, and which folders it may open
- ``command_line``: what the app was started with (``-- --project``, ``--state-dir``,
  ``KPCAL_PROJECT``)
- ``history``: the recent-projects list (``recent.json`` in the state folder)
- ``error_display``: bad input shown as one message and logged, the broken-config repair
- ``widgets``: small shared views (tables with blanks, the demo banner, the annotator field)
- ``startup``: the guard that shows a page inside ``app.py``'s navigation however its run
  started (``app.py`` found as ``kpcal app`` finds it, :mod:`kpcal_core.appfiles`)
- ``signin``: who is signed in; a link opened before sign-in, kept in the browser tab and gone
  back to after it
- ``cache``: every cached loader, keyed by file content (path, size, mtime)
- ``click``: the click view (streamlit-image-coordinates' frontend as our own declared
  component, image before scripts, sized to the window and drawn at that size) and the
  page's keys (+ and - zoom, the keyboard back to the page)
- ``text``: data (names, paths, messages) shown as text in Streamlit's Markdown, never markup
- ``panels``: self-contained page sections (project picker, front and back bodyparts, a
  recording's video, other annotators' clicks)

Kept outside ``pages/`` so that Streamlit's folder-based page discovery never sees these modules.
"""
