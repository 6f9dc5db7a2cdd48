"""Applying review decisions: the cleaned dataset as a new folder (`apply_run`) or changed in place (`apply_in_place`).

`rules` decides each image's final label from the run and the decisions (pure values); `layout` places images in
class folders; `source` reads the run and checks the dataset is unchanged; `formats` writes label files as text.
"""

from labelfix.apply.copy import ApplyResult, apply_run
from labelfix.apply.in_place import InPlaceResult, apply_in_place

__all__ = ["ApplyResult", "InPlaceResult", "apply_in_place", "apply_run"]
