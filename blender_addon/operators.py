"""Operators: Detect 2D, Lift to 3D, Bake, Export BVH/FBX, and Video to animation (all steps).

Detection and lifting run in a worker thread under a modal operator with a timer, so Blender
stays responsive; progress shows in the status bar and Esc cancels, leaving the scene as it
was. In background mode (and when called as ``bpy.ops...()`` without invoking) the same work
runs synchronously. Blender data is only touched on the main thread, after the work is done.
"""
from __future__ import annotations

import hashlib
import json
import os

import bpy
import numpy as np
from bpy_extras.io_utils import ExportHelper

from . import bake, export
from .core.detection import DetectorFactory
from .core.parallel_detection import detect_video_cached
from .core.inference import PoseLifter
from .core.options import check_frame_range, check_options
from .core.people import select_people
from .core.pipeline import PipelineOptions, animate_people, input_warnings, motion_warnings
from .core.track_sheet import write_track_sheet
from .core.retarget import PRESET_SWITCHES, PRESETS, MappingError, parse_mapping
from .core.video import probe
from .jobs import Cancelled, Job
from .preferences import model_path, preferences, user_cache_folder

RESULTS: dict[str, dict] = {}  # per scene name: "video", "people", "tracks", "chosen", "motions", "warnings"
PEOPLE_IMAGE = "VideoPose people"


class UserError(Exception):
    """Something the user can fix; reported as is."""


def settings(context):
    return context.scene.videopose


def video_path(context) -> str:
    """The chosen movie clip's file, else (in the Movie Clip editor) the editor's clip, else the chosen file.

    A clip made from an image sequence is the folder of its images (all of them, in name order).
    """
    s = settings(context)
    clip = s.clip or getattr(getattr(context, "space_data", None), "clip", None)
    path = bpy.path.abspath(clip.filepath) if clip else bpy.path.abspath(s.video_path)
    if not path:
        raise UserError("Choose a movie clip or a video file first")
    if clip is not None and clip.source == "SEQUENCE":
        path = os.path.dirname(path)
    if not os.path.isfile(path) and not os.path.isdir(path):
        raise UserError(f"Video file not found: {path}")
    return path


def pipeline_options(context) -> PipelineOptions:
    """The panel's options, checked before any work starts."""
    s = settings(context)
    prefs = preferences(context)
    fov = s.fov if s.camera_mode == "FOV" else (prefs.default_fov if prefs else 60.0)
    options = PipelineOptions(
        model_path=model_path(context), fov_deg=None if s.camera_mode == "FOCAL" else fov,
        focal_mm=s.focal_mm if s.camera_mode == "FOCAL" else None, sensor_mm=s.sensor_mm,
        min_confidence=s.min_confidence, flip_augment=s.flip_augment, smoothing_window=s.smoothing,
        constant_bones=s.constant_bones, foot_lock=s.foot_lock, preview=False, detector_3d_weight=s.detector_3d,
        start_frame=s.frame_start, end_frame=s.frame_end or None, detector=s.detector,
        person=str(s.person_id) if s.person == "ID" else s.person, all_people=s.all_people,
        height_m=s.height_m or None, camera_pitch_deg=s.camera_pitch if s.tripod else None,
        camera_height_m=s.camera_height if s.tripod else None, in_place=s.in_place,
        repair_swaps=s.repair_swaps)
    check_options(options)  # an OptionError is reported like any other failure of prepare
    return options


def _cache_folder(video: str) -> str:
    """One resumable detection cache per video file: a cancelled detection continues where it stopped."""
    key = hashlib.sha1(os.path.abspath(video).encode()).hexdigest()[:12]
    return os.path.join(user_cache_folder(), f"{os.path.splitext(os.path.basename(video))[0]}-{key}")


def detect_work(video: str, options: PipelineOptions):
    """Work returning everyone's 2D detections, the warnings about the input (truncation, frame rate),
    and the contact sheet of the people found (a PNG in the cache)."""
    cache = _cache_folder(video)
    info = probe(video)
    check_frame_range(options, info)

    def work(job: Job):
        run = detect_video_cached(video, cache, DetectorFactory(options.detector, info.fps, options.max_people),
                                  progress=lambda done, total, fps: job.progress(done, total),
                                  should_stop=lambda: job.cancelled, start=options.start_frame,
                                  stop=options.end_frame, workers=options.workers, info=info)
        warnings, rate = input_warnings(info, run, run.people.num_frames, options)
        run.people.fps = rate or run.people.fps
        selection = select_people(run.people, options.person, options.all_people)  # its tracks, for the sheet
        sheet = os.path.join(cache, "tracks.png")
        write_track_sheet(video, selection.tracks, sheet, options.start_frame, selection.chosen.id)
        return run.people, warnings, sheet
    return work


def store_people(context, video: str, people, warnings: list[str], sheet: str) -> None:
    """Keep the detections and list their tracks in the panel; load the contact sheet as an image."""
    selection = select_people(people, pipeline_options(context).person)
    RESULTS[context.scene.name] = {"video": video, "people": people, "warnings": warnings,
                                   "tracks": [t.summary(people.fps) for t in selection.tracks],
                                   "chosen": selection.chosen.id}
    image = bpy.data.images.get(PEOPLE_IMAGE)
    if image is not None:
        bpy.data.images.remove(image)
    bpy.data.images.load(sheet).name = PEOPLE_IMAGE


def report_warnings(operator, warnings: list[str]) -> str:
    """Report each warning; returns the status line's note about them ('' when there are none)."""
    for warning in warnings:
        operator.report({"WARNING"}, warning)
    if not warnings:
        return ""
    return f" ({len(warnings)} warning{'s' if len(warnings) > 1 else ''}: see the Info editor)"


def lift_work(people, options: PipelineOptions):
    """Work returning the motion of the chosen person (and, with ``all_people``, every main person) and
    the warnings about them (frames unseen, swaps repaired)."""
    def work(job: Job):
        if not os.path.isfile(options.model_path):
            raise UserError(f"Model file not found: {options.model_path} (check the add-on preferences)")
        job.progress(0, people.num_frames)
        lifter = PoseLifter.from_file(options.model_path)
        selection = select_people(people, options.person, options.all_people, options.repair_swaps, lifter,
                                  options.min_confidence)
        motions = animate_people(selection, lifter, options)
        job.progress(people.num_frames, people.num_frames)
        return motions, selection.warnings + motion_warnings(motions)
    return work


def require_object_mode(context) -> None:
    if context.mode != "OBJECT":
        raise UserError("Switch to Object Mode first")


def chosen_mapping(context) -> dict[str, str]:
    s = settings(context)
    if s.mapping == "CUSTOM":
        if s.custom_mapping is None:
            raise UserError("Choose the text holding the custom mapping (Write Mapping Template makes one)")
        return parse_mapping(s.custom_mapping.as_string())
    return dict(PRESETS[s.mapping])


def bake_people(context, motions: list) -> list[bpy.types.Object]:
    """Bake the chosen person onto the target rig (or a new armature) and every other person onto a new
    armature of their own, each from the frame they appear in; set the scene's rate and range."""
    scene = context.scene
    objects = [bake_new_armature(context, motions[0], settings(context).target)]
    for motion in motions[1:]:
        objects.append(bake_new_armature(context, motion, None))
    fps = motions[0].fps
    scene.render.fps, scene.render.fps_base = max(int(round(fps)), 1), max(int(round(fps)), 1) / fps
    scene.frame_end = scene.frame_start + max(m.first_frame + len(m.joints_world) for m in motions) - 1
    return objects


def bake_new_armature(context, motion, target) -> bpy.types.Object:
    """Bake onto ``target`` (through the chosen mapping) or a new armature, from the person's first frame."""
    scene = context.scene
    frame_start = scene.frame_start + motion.first_frame
    joints, skeleton = motion.skeleton_joints()   # with feet where the detector saw them
    if target is not None:
        mapping = chosen_mapping(context)
        switches = PRESET_SWITCHES.get(settings(context).mapping)
        try:
            bake.bake_onto_rig(target, joints, mapping, frame_start=frame_start, switches=switches,
                               keep_rig_size=settings(context).keep_rig_size)
        except MappingError as exc:
            raise UserError(str(exc)) from exc
        obj = target
    else:
        lengths = np.median(skeleton.bone_lengths(joints), axis=0)
        obj = bake.create_armature(f"VideoPose person {motion.person}", lengths, scene.collection, skeleton)
        bake.bake_motion(obj, joints, frame_start=frame_start)
    return obj


class _JobOperator:
    """Shared modal/synchronous driver. Subclasses define ``prepare`` (main thread: inputs and
    the work function) and ``apply`` (main thread: store or bake the result)."""

    label = "Working"
    _job: Job | None = None
    _timer = None

    def prepare(self, context):
        raise NotImplementedError

    def apply(self, context, result) -> None:
        raise NotImplementedError

    def _report_failure(self, error: BaseException) -> set[str]:
        if isinstance(error, Cancelled) or isinstance(error, InterruptedError):
            self.report({"WARNING"}, f"{self.label} cancelled; nothing was changed")
            return {"CANCELLED"}
        self.report({"ERROR"}, str(error))
        return {"CANCELLED"}

    def execute(self, context):
        try:
            work = self.prepare(context)
            result = Job(self.label, work).run_here()
            self.apply(context, result)
        except Exception as exc:  # reported to the user; the scene is left as it was
            return self._report_failure(exc)
        return {"FINISHED"}

    def invoke(self, context, event):
        if bpy.app.background:
            return self.execute(context)
        try:
            work = self.prepare(context)
        except Exception as exc:
            return self._report_failure(exc)
        self._job = Job(self.label, work).start()
        wm = context.window_manager
        self._timer = wm.event_timer_add(0.1, window=context.window)
        wm.modal_handler_add(self)
        wm.progress_begin(0, 1000)
        return {"RUNNING_MODAL"}

    def _end(self, context) -> None:
        wm = context.window_manager
        wm.event_timer_remove(self._timer)
        wm.progress_end()
        context.workspace.status_text_set(None)

    def modal(self, context, event):
        if event.type == "ESC":
            self._job.cancel()
        if event.type != "TIMER":
            return {"PASS_THROUGH"}
        context.workspace.status_text_set(self._job.status())
        context.window_manager.progress_update(int(1000 * self._job.fraction))
        if not self._job.finished:
            return {"RUNNING_MODAL"}
        self._end(context)
        if self._job.error is not None:
            return self._report_failure(self._job.error)
        try:
            self.apply(context, self._job.result)
        except Exception as exc:
            return self._report_failure(exc)
        return {"FINISHED"}


class VIDEOPOSE_OT_detect(_JobOperator, bpy.types.Operator):
    """Detect the person's 2D joints on every frame of the clip (cached for re-lifting)"""
    bl_idname = "videopose.detect"
    bl_label = "Detect 2D"
    label = "Detecting 2D"

    def prepare(self, context):
        self._video = video_path(context)
        return detect_work(self._video, pipeline_options(context))

    def apply(self, context, result) -> None:
        people, warnings, sheet = result
        store_people(context, self._video, people, warnings, sheet)
        count = len(RESULTS[context.scene.name]["tracks"])
        settings(context).status = (f"Detected {people.num_frames} frames, {count} {'people' if count > 1 else 'person'}"
                                    + report_warnings(self, warnings))
        self.report({"INFO"}, settings(context).status)


class VIDEOPOSE_OT_lift(_JobOperator, bpy.types.Operator):
    """Lift the detected 2D joints to 3D motion with root trajectory"""
    bl_idname = "videopose.lift"
    bl_label = "Lift to 3D"
    label = "Lifting"

    def prepare(self, context):
        stored = RESULTS.get(context.scene.name, {})
        if "people" not in stored:
            raise UserError("Detect 2D first")
        return lift_work(stored["people"], pipeline_options(context))

    def apply(self, context, result) -> None:
        motions, warnings = result
        RESULTS[context.scene.name]["motions"] = motions
        settings(context).status = (f"Lifted {', '.join(f'person {m.person}' for m in motions)}: "
                                    f"{len(motions[0].joints_world)} frames" + report_warnings(self, warnings))
        self.report({"INFO"}, settings(context).status)


class VIDEOPOSE_OT_bake(bpy.types.Operator):
    """Create an armature that follows the lifted motion"""
    bl_idname = "videopose.bake"
    bl_label = "Bake"
    bl_options = {"REGISTER", "UNDO"}

    def execute(self, context):
        try:
            require_object_mode(context)
            motions = RESULTS.get(context.scene.name, {}).get("motions")
            if not motions:
                raise UserError("Lift to 3D first")
            objects = bake_people(context, motions)
        except (UserError, MappingError) as exc:
            self.report({"ERROR"}, str(exc))
            return {"CANCELLED"}
        settings(context).status = (f"Baked {len(motions[0].joints_world)} frames onto "
                                    f"{', '.join(obj.name for obj in objects)}")
        self.report({"INFO"}, settings(context).status)
        return {"FINISHED"}


class VIDEOPOSE_OT_video_to_animation(_JobOperator, bpy.types.Operator):
    """Detect, lift and bake in one go"""
    bl_idname = "videopose.video_to_animation"
    bl_label = "Video to Animation"
    bl_options = {"REGISTER", "UNDO"}
    label = "Video to animation"

    def prepare(self, context):
        require_object_mode(context)
        video, options = video_path(context), pipeline_options(context)
        detect = detect_work(video, options)
        self._video = video

        def work(job: Job):
            people, warnings, sheet = detect(job)
            motions, notes = lift_work(people, options)(job)
            return people, warnings + notes, sheet, motions
        return work

    def apply(self, context, result) -> None:
        require_object_mode(context)
        people, warnings, sheet, motions = result
        store_people(context, self._video, people, warnings, sheet)
        RESULTS[context.scene.name]["motions"] = motions
        objects = bake_people(context, motions)
        settings(context).status = (f"{len(motions[0].joints_world)} frames baked onto "
                                    f"{', '.join(obj.name for obj in objects)}" + report_warnings(self, warnings))
        self.report({"INFO"}, settings(context).status)


def _animated_armature(context) -> bpy.types.Object:
    require_object_mode(context)
    obj = context.active_object
    if obj is None or obj.type != "ARMATURE":
        raise UserError("Select the baked armature first")
    if obj.animation_data is None or obj.animation_data.action is None:
        raise UserError(f"{obj.name} has no animation; bake first")
    return obj


class _ExportOperator(ExportHelper):
    """Export the active baked armature with one of ``blender_addon.export``'s functions."""

    exporter = None

    def export_options(self) -> dict:
        return {}

    def execute(self, context):
        try:
            type(self).exporter(_animated_armature(context), self.filepath, **self.export_options())
        except (UserError, ValueError, RuntimeError) as exc:
            self.report({"ERROR"}, str(exc))
            return {"CANCELLED"}
        self.report({"INFO"}, f"Exported {self.filepath}")
        return {"FINISHED"}


class VIDEOPOSE_OT_export_bvh(_ExportOperator, bpy.types.Operator):
    """Export the active armature's motion as BVH"""
    bl_idname = "videopose.export_bvh"
    bl_label = "Export BVH"
    filename_ext = ".bvh"
    filter_glob: bpy.props.StringProperty(default="*.bvh", options={"HIDDEN"})
    units: bpy.props.EnumProperty(name="Units", default="cm", items=[
        ("cm", "Centimetres", "As most BVH files and the command line's motion.bvh"),
        ("m", "Metres", "Blender's own units")])
    exporter = staticmethod(export.export_bvh)

    def export_options(self) -> dict:
        return {"units": self.units}


class VIDEOPOSE_OT_export_fbx(_ExportOperator, bpy.types.Operator):
    """Export the active armature's motion as FBX"""
    bl_idname = "videopose.export_fbx"
    bl_label = "Export FBX"
    filename_ext = ".fbx"
    filter_glob: bpy.props.StringProperty(default="*.fbx", options={"HIDDEN"})
    exporter = staticmethod(export.export_fbx)


class VIDEOPOSE_OT_mapping_template(bpy.types.Operator):
    """Write the chosen preset mapping into a new text to edit as a custom mapping"""
    bl_idname = "videopose.mapping_template"
    bl_label = "Write Mapping Template"

    def execute(self, context):
        s = settings(context)
        preset = PRESETS["RIGIFY_METARIG" if s.mapping == "CUSTOM" else s.mapping]
        text = bpy.data.texts.new("videopose_mapping.json")
        text.from_string(json.dumps(preset, indent=2))
        s.custom_mapping, s.mapping = text, "CUSTOM"
        self.report({"INFO"}, f"Edit {text.name} in the Text Editor")
        return {"FINISHED"}


class VIDEOPOSE_OT_pick_person(bpy.types.Operator):
    """Animate this person (Lift to 3D and Bake again to apply)"""
    bl_idname = "videopose.pick_person"
    bl_label = "Pick Person"
    person_id: bpy.props.IntProperty(min=1)

    def execute(self, context):
        s = settings(context)
        s.person, s.person_id = "ID", self.person_id
        stored = RESULTS.get(context.scene.name, {})
        if "tracks" in stored:
            stored["chosen"] = self.person_id
        s.status = f"Person {self.person_id} chosen: Lift to 3D and Bake to animate them"
        return {"FINISHED"}


class VIDEOPOSE_OT_show_people(bpy.types.Operator):
    """Show the picture of each person found, with their id, in an Image Editor"""
    bl_idname = "videopose.show_people"
    bl_label = "Show People"

    def execute(self, context):
        image = bpy.data.images.get(PEOPLE_IMAGE)
        if image is None:
            self.report({"ERROR"}, "Detect 2D first")
            return {"CANCELLED"}
        for area in getattr(context.screen, "areas", []):
            if area.type == "IMAGE_EDITOR":
                area.spaces.active.image = image
                return {"FINISHED"}
        self.report({"INFO"}, f"Open the image '{PEOPLE_IMAGE}' in an Image Editor")
        return {"FINISHED"}


CLASSES = (VIDEOPOSE_OT_mapping_template, VIDEOPOSE_OT_pick_person, VIDEOPOSE_OT_show_people, VIDEOPOSE_OT_detect, VIDEOPOSE_OT_lift, VIDEOPOSE_OT_bake, VIDEOPOSE_OT_video_to_animation,
           VIDEOPOSE_OT_export_bvh, VIDEOPOSE_OT_export_fbx)


def register() -> None:
    for cls in CLASSES:
        bpy.utils.register_class(cls)


def unregister() -> None:
    for cls in reversed(CLASSES):
        bpy.utils.unregister_class(cls)
