"""Augmentations of a target task's training data (entry point group `xstilts.augmentations`)."""
