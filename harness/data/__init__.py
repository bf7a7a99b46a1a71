"""Data access: HF hub datasets (or local snapshots of hub repositories) and local raw layouts."""
