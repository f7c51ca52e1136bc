"""kpcal_app: what the Streamlit pages share and nothing computes.

- ``state``: every ``st.session_state`` key and URL query parameter, the project in use, the annotator,
  the address (project, sample, zoom: read once per session, kept on every page), and the
  guard that shows a page inside ``app.py``'s navigation however its run started
- ``signin``: a link opened before sign-in, kept in the browser tab and gone back to after it
- ``cache``: every cached loader, keyed by file content (path, size, mtime)
- ``click``: the click view (streamlit-image-coordinates' frontend as our own declared
  component, image before scripts, sized to the window and drawn at that size) and the
  page's keys (+ and - zoom, the keyboard back to the page)
- ``text``: data (names, paths, messages) shown as text in Streamlit's Markdown, never markup
- ``panels``: self-contained page sections (project picker, front and back bodyparts, a
  recording's video, other annotators' clicks)

Kept outside ``pages/`` so that Streamlit's folder-based page discovery never sees these modules.
"""
