"""One Textual widget per pane. Panes render model snapshots; they never import bcc."""
