"""remediator package."""
