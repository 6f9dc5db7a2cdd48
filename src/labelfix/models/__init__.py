"""Backbones (the embedded default and any timm model) and batch inference."""
