import pytest

from core.retarget import MIXAMO, MappingError, parse_mapping, resolve_mapping


def test_namespaced_bones_match():
    names = [f"mixamorig:{n}" for n in MIXAMO] + ["mixamorig:LeftHand"]
    resolved = resolve_mapping(MIXAMO, names)
    assert resolved[names.index("mixamorig:Hips")] == "pelvis_frame"


@pytest.mark.parametrize("text, message", [
    ("{not json", "not valid JSON"),
    ('["Hips"]', "JSON object"),
])
def test_bad_custom_mapping_text(text, message):
    with pytest.raises(MappingError, match=message):
        parse_mapping(text)


def test_bad_rules_and_missing_hips():
    with pytest.raises(MappingError, match="neither 'joint>joint'"):
        resolve_mapping({"Hips": "pelvis_frame", "Arm": "left_shoulder>elbow"}, ["Hips", "Arm"])
    with pytest.raises(MappingError, match="pelvis_frame"):
        resolve_mapping({"Arm": "left_shoulder>left_elbow"}, ["Arm"])
