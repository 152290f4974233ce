import os
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
# Blender (the bpy module) must not read or write the user's own configuration during tests:
# installed test extensions go to a throwaway folder. Set before anything imports bpy.
os.environ.setdefault("BLENDER_USER_RESOURCES", tempfile.mkdtemp(prefix="videopose_blender_user_"))
