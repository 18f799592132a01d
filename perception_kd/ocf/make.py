"""Build the Object-Complete Frames of a nuScenes root (the library behind ``tools/make_ocf.py``).

Reads the info files of ``tools/create_data.py``, patches every keyframe of the chosen
scenes with :class:`~perception_kd.ocf.builder.ObjectCompleteFrameBuilder` (one job per
scene, in parallel), writes each OCF to ``<out>/<raw file name>`` atomically, and writes
new info files ``<name><info_suffix>.pkl`` (default ``_ocf``) whose samples carry
``ocf_path``. The raw clouds and the original info files are never modified.

Semi-supervised (``pseudo_labels``): the scenes marked unlabelled (``labelled: False``,
``tools/split_infos.py``) or named in ``pseudo_scenes`` are patched along tracks linked
from a detector's predictions (:mod:`perception_kd.ocf.pseudo`) instead of annotations;
their samples get ``labelled: False`` and ``pseudo_instances`` in the new info files.

Layout and options: ``docs/ocf.md``.
"""
from __future__ import annotations

import json
import multiprocessing
import os
import os.path as osp
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, fields

from ..datasets.infos import SPLITS, check_nuscenes_root
from ..datasets.io import (
    check_writable_dir,
    dump_atomic,
    load_info_file,
    load_points,
    save_points,
)
from .builder import ObjectCompleteFrameBuilder, OCFOptions
from .frames import SceneFrames, scenes_from_infos
from .pseudo import PseudoLabelOptions, PseudoLabels

DEFAULT_OUT = 'samples/LIDAR_TOP_OCF'
MANIFEST = 'ocf_options.json'
SPARSE_POINTS = 5  # annotations with at most this many raw in-box points count as sparse


@dataclass
class SceneJob:
    """One unit of parallel work: a scene, where its OCFs go and how to build them."""
    scene: SceneFrames
    out_paths: list
    options: OCFOptions
    force: bool = False


@dataclass
class OCFCounts:
    """Counters summed over written keyframes (the one list of them: a scene job's
    :class:`SceneStats` and the run's :class:`OCFSummary` both carry these)."""
    frames_written: int = 0
    frames_skipped: int = 0
    annotations: int = 0
    points_before: int = 0
    points_after: int = 0
    sparse: int = 0
    sparse_before: int = 0
    sparse_after: int = 0
    count_checked: int = 0
    count_mismatch: int = 0
    raw_points: int = 0
    seconds: float = 0.0

    def add(self, other: OCFCounts) -> None:
        """Add ``other``'s counters (not its seconds: jobs run in parallel)."""
        for item in fields(OCFCounts):
            if item.name != 'seconds':
                setattr(self, item.name, getattr(self, item.name) + getattr(other, item.name))


@dataclass(kw_only=True)
class SceneStats(OCFCounts):
    """What one scene job did (sums over the keyframes it wrote)."""
    name: str


@dataclass(kw_only=True)
class OCFSummary(OCFCounts):
    """The outcome of :func:`make_ocf` (``format()`` gives the printed summary)."""
    out_dir: str
    scenes: int = 0
    frames: int = 0
    instances: int = 0
    info_files: dict = field(default_factory=dict)
    samples_without_ocf: int = 0
    pseudo: PseudoLabels | None = None

    def format(self) -> str:
        """Human-readable summary (frames, instances, mean in-box points before/after)."""
        lines = [f'OCF -> {self.out_dir}',
                 f'scenes {self.scenes}, keyframes {self.frames} (written {self.frames_written}, '
                 f'skipped as finished {self.frames_skipped}), instances {self.instances}']
        if self.pseudo is not None:
            lines.append(self.pseudo.format())
        if self.annotations:
            mean_before = self.points_before / self.annotations
            mean_after = self.points_after / self.annotations
            lines.append(f'annotations {self.annotations}: mean in-box points before '
                         f'{mean_before:.1f}, after {mean_after:.1f} '
                         f'(x{mean_after / max(mean_before, 1e-9):.1f})')
            if self.sparse:
                lines.append(f'sparse annotations (<= {SPARSE_POINTS} raw points) {self.sparse}: '
                             f'mean before {self.sparse_before / self.sparse:.1f}, after '
                             f'{self.sparse_after / self.sparse:.1f}')
            if self.count_checked:
                lines.append(f'raw in-box counts equal to num_lidar_pts: '
                             f'{self.count_checked - self.count_mismatch}/{self.count_checked}')
        if self.seconds > 0 and self.frames_written:
            lines.append(f'time {self.seconds:.1f} s: {self.frames_written / self.seconds:.2f} '
                         f'keyframes/s, {self.points_before / self.seconds:.0f} raw in-box '
                         f'points/s, {self.points_after / self.seconds:.0f} OCF in-box points/s')
        for src, dst in self.info_files.items():
            lines.append(f'info file {dst} (from {osp.basename(src)})')
        if self.samples_without_ocf:
            lines.append(f'warning: {self.samples_without_ocf} samples have no OCF yet '
                         '(ocf_path None): other scenes/shards still to build')
        return '\n'.join(lines)


def parse_shard(text: str | None) -> tuple | None:
    """``'i/n'`` -> ``(i, n)`` with ``0 <= i < n`` (None passes through)."""
    if text is None:
        return None
    try:
        index, count = (int(part) for part in str(text).split('/'))
    except ValueError:
        raise ValueError(f'--shard must look like i/n (e.g. 0/4), got {text!r}') from None
    if count < 1 or not 0 <= index < count:
        raise ValueError(f'--shard {text}: need n >= 1 and 0 <= i < n (shards are 0-based)')
    return index, count


def default_info_files(root: str, version: str, prefix: str = 'nuscenes') -> list:
    """The info files of ``create_data.py`` for ``version`` that exist under ``root``."""
    candidates = [osp.join(root, f'{prefix}_infos_{split}.pkl') for split in SPLITS[version]]
    found = [path for path in candidates if osp.isfile(path)]
    if not found:
        raise FileNotFoundError(
            f'no info files found ({", ".join(candidates)}); build them with '
            f'`python tools/create_data.py {root} --version {version}` or pass --infos')
    return found


def run_scene(job: SceneJob) -> SceneStats:
    """Build and write the OCFs of one scene; skip finished keyframes unless ``job.force``."""
    start = time.perf_counter()
    scene = job.scene
    stats = SceneStats(name=scene.name)
    targets = [i for i, path in enumerate(job.out_paths) if job.force or not osp.isfile(path)]
    stats.frames_skipped = len(scene.frames) - len(targets)
    if not targets:
        return stats
    clouds = [load_points(frame.lidar_path, what='raw LiDAR cloud',
                          context=f' (sample {frame.token}, scene {scene.name})')
              for frame in scene.frames]
    builder = ObjectCompleteFrameBuilder(job.options)
    exact = job.options.enlarge == 0 and job.options.ground_height is None
    for ocf in builder.build(scene.frames, clouds, targets):
        save_points(job.out_paths[ocf.index], ocf.points)
        frame = scene.frames[ocf.index]
        before, after = ocf.points_before, ocf.points_after
        sparse = before <= SPARSE_POINTS
        stats.frames_written += 1
        stats.annotations += len(before)
        stats.points_before += int(before.sum())
        stats.points_after += int(after.sum())
        stats.sparse += int(sparse.sum())
        stats.sparse_before += int(before[sparse].sum())
        stats.sparse_after += int(after[sparse].sum())
        stats.raw_points += ocf.num_raw
        if exact:
            known = frame.num_lidar_pts >= 0
            stats.count_checked += int(known.sum())
            stats.count_mismatch += int((before[known] != frame.num_lidar_pts[known]).sum())
    stats.seconds = time.perf_counter() - start
    return stats


def make_ocf(root: str, version: str = 'v1.0-mini', out: str = DEFAULT_OUT,
             infos: Sequence[str] | None = None, options: OCFOptions | None = None,
             workers: int = 1, scenes: Sequence[str] | None = None,
             shard: str | tuple | None = None, force: bool = False, info_suffix: str = '_ocf',
             infos_only: bool = False, progress: bool = True, pseudo_labels: str | None = None,
             pseudo_options: PseudoLabelOptions | None = None,
             pseudo_scenes: Sequence[str] | None = None) -> OCFSummary:
    """Build the OCFs of a nuScenes root and write info files pointing to them.

    Args:
        root: nuScenes root (holds ``<version>/``, ``samples/LIDAR_TOP``, the info files).
        version: nuScenes version folder under ``root``.
        out: output folder, relative to ``root`` or absolute; same file names as the raw
            keyframe clouds.
        infos: input info files (default: ``<root>/nuscenes_infos_<split>.pkl`` of the
            version's splits that exist).
        options: builder options (:class:`OCFOptions`; default: the published generator).
        workers: processes, one scene at a time each (1: in this process).
        scenes: restrict to these scenes (names like ``scene-0061`` or scene tokens).
        shard: ``'i/n'`` or ``(i, n)``: only every n-th scene starting at i (0-based), in
            info-file order, so n machines can split the work.
        force: rebuild finished keyframes (and accept other options than the folder's).
        info_suffix: the new info files are ``<name><info_suffix>.pkl`` next to the inputs.
        infos_only: build nothing; only (re)write the info files from the OCFs on disk
            (after all shards finished).
        progress: show a tqdm progress bar.
        pseudo_labels: a nuScenes detection results JSON (``tools/test.py``): the unlabelled
            scenes are patched along tracks linked from these predictions
            (:mod:`perception_kd.ocf.pseudo`); required when the infos mark scenes unlabelled.
        pseudo_options: :class:`~perception_kd.ocf.pseudo.PseudoLabelOptions` (score
            threshold, link factor, velocity).
        pseudo_scenes: scenes (names or tokens) to treat as unlabelled besides those whose
            samples carry ``labelled: False`` (``tools/split_infos.py``).
    """
    options = options or OCFOptions()
    table_dir = check_nuscenes_root(root, version)
    if not info_suffix:
        raise ValueError('info_suffix must not be empty (the original info files are never '
                         'overwritten)')
    shard = parse_shard(shard) if not isinstance(shard, tuple) else shard
    info_paths = list(infos) if infos else default_info_files(root, version)
    out_dir = out if osp.isabs(out) else osp.join(root, out)
    names = _scene_names(table_dir)

    read = _read_infos(info_paths, root, version, names)
    pseudo = _pseudo_labels(read.scenes, read.labelled, read.categories, pseudo_labels,
                            pseudo_options, pseudo_scenes)
    jobs_scenes = read.scenes
    if pseudo is not None:
        jobs_scenes = [pseudo.scenes[s.scene_token].scene if s.scene_token in pseudo.scenes
                       else s for s in jobs_scenes]
    jobs_scenes = _select(jobs_scenes, scenes, shard, names)
    _check_out_dir(out_dir, jobs_scenes)
    # before hours of building: every output folder takes files (not read-only, not full,
    # not a file in the way), the OCF folder and the folders of the new info files
    for folder, what in ([] if infos_only else [(out_dir, 'OCF output folder')]) + \
            [(osp.dirname(osp.abspath(p)), 'info file folder') for p in info_paths]:
        check_writable_dir(folder, what)

    summary = OCFSummary(out_dir=out_dir, scenes=len(jobs_scenes),
                         frames=sum(len(s.frames) for s in jobs_scenes),
                         instances=len({tok for s in jobs_scenes for f in s.frames
                                        for tok in f.instance_tokens}), pseudo=pseudo)
    pseudo_manifest = None if pseudo is None else pseudo.manifest()
    if infos_only:
        _check_infos_only(out_dir, pseudo_manifest)
    else:
        _check_manifest(out_dir, version, options, force, pseudo_manifest)
        _build(summary, jobs_scenes, out_dir, options, force, workers, progress)
    _write_all_infos(summary, read.contents, root, out_dir, info_suffix,
                     {} if pseudo is None else pseudo.instances)
    return summary


# ------------------------------------------------------------------------ make_ocf's steps
@dataclass
class _InfoContents:
    """The input info files, read: contents by path, their scenes (first file wins),
    each scene's categories table and the ``labelled`` flags of its samples."""
    contents: dict = field(default_factory=dict)
    scenes: list = field(default_factory=list)
    categories: dict = field(default_factory=dict)
    labelled: dict = field(default_factory=dict)


def _read_infos(info_paths: Sequence[str], root: str, version: str,
                names: dict) -> _InfoContents:
    read, seen = _InfoContents(), set()
    for path in info_paths:
        data = load_info_file(path)
        info_version = (data.get('metainfo') or {}).get('version')
        if info_version not in (None, version):
            raise ValueError(f'info file {path} was built for {info_version}, not {version}; '
                             'pass the matching --version or --infos')
        read.contents[path] = data
        file_categories = (data.get('metainfo') or {}).get('categories')
        for info in data['data_list']:
            read.labelled.setdefault(info.get('scene_token'), set()).add(
                info.get('labelled', True))
        for scene in scenes_from_infos(data['data_list'], root, path, names):
            if scene.scene_token not in seen:
                seen.add(scene.scene_token)
                read.scenes.append(scene)
                read.categories[scene.scene_token] = file_categories
    return read


def _check_infos_only(out_dir: str, pseudo_manifest: dict | None) -> None:
    """``infos_only`` rewrites info files only for OCFs built with the same pseudo labels."""
    found = (_read_manifest(out_dir) or {}).get('pseudo_labels')
    if found != pseudo_manifest:
        raise ValueError(f'{out_dir} holds OCFs built with pseudo labels {found}, not '
                         f'{pseudo_manifest}; rewrite the info files with the same '
                         '--pseudo-labels, --score-thr, --link-factor and scenes')


def _build(summary: OCFSummary, scenes: list, out_dir: str, options: OCFOptions, force: bool,
           workers: int, progress: bool) -> None:
    """Run one :class:`SceneJob` per scene and add their counts to ``summary``."""
    jobs = [SceneJob(scene, [osp.join(out_dir, osp.basename(f.lidar_path))
                             for f in scene.frames], options, force)
            for scene in scenes]
    start = time.perf_counter()
    for stats in _run(jobs, workers, progress):
        summary.add(stats)
    summary.seconds = time.perf_counter() - start


def _write_all_infos(summary: OCFSummary, contents: dict, root: str, out_dir: str,
                     info_suffix: str, pseudo_instances: dict) -> None:
    """Write the ``<name><info_suffix>.pkl`` of every input info file (see
    :func:`_write_infos`) and record them in ``summary``."""
    manifest = _read_manifest(out_dir)
    for path, data in contents.items():
        dst, missing = _write_infos(path, data, root, out_dir, info_suffix, manifest,
                                    pseudo_instances)
        summary.info_files[path] = dst
        summary.samples_without_ocf += missing


# ------------------------------------------------------------------------------ helpers
def _scene_names(table_dir: str) -> dict:
    """``{scene token: name}`` from ``scene.json`` (empty if the table is unreadable)."""
    try:
        with open(osp.join(table_dir, 'scene.json')) as file:
            return {rec['token']: rec['name'] for rec in json.load(file)}
    except (OSError, ValueError, KeyError, TypeError):
        return {}


def _pseudo_labels(scenes: list, labelled: dict, categories: dict, path: str | None,
                   options: PseudoLabelOptions | None,
                   wanted: Sequence[str] | None) -> PseudoLabels | None:
    """The pseudo tracks of the unlabelled scenes (marked in the infos or named in
    ``wanted``), None without ``path``; errors for a mixed scene, an unknown name, unlabelled
    scenes without pseudo labels and pseudo labels without an unlabelled scene."""
    mixed = [s.name for s in scenes if len(labelled.get(s.scene_token, ())) > 1]
    if mixed:
        raise ValueError(f'scenes {mixed} have labelled and unlabelled samples (in one info '
                         'file, or the same scene in several --infos); the labelled marker is '
                         'per scene: split the infos with tools/split_infos.py')
    marked = {s.scene_token for s in scenes if labelled.get(s.scene_token) == {False}}
    if wanted:
        known = {s.scene_token: s for s in scenes} | {s.name: s for s in scenes}
        unknown = [w for w in wanted if w not in known]
        if unknown:
            raise ValueError(f'--pseudo-scenes {unknown} are not in the info files')
        marked |= {known[w].scene_token for w in wanted}
    unlabelled = [s for s in scenes if s.scene_token in marked]
    if path is None:
        if unlabelled:
            raise ValueError(f'scenes {[s.name for s in unlabelled][:8]} are unlabelled '
                             '(labelled: False in the infos): give their pseudo labels with '
                             '--pseudo-labels RESULTS.json (docs/ocf.md, "Semi-supervised")')
        return None
    if not unlabelled:
        raise ValueError('--pseudo-labels: no scene is unlabelled; mark scenes with '
                         'tools/split_infos.py (labelled: False) or name them with '
                         '--pseudo-scenes')
    return PseudoLabels.build(path, unlabelled, options,
                              {s.scene_token: categories.get(s.scene_token) for s in unlabelled})


def _select(scenes: list, wanted: Sequence[str] | None, shard: tuple | None,
            names: dict) -> list:
    if wanted:
        wanted = list(wanted)
        known = {s.scene_token for s in scenes} | {s.name for s in scenes}
        unknown = [w for w in wanted if w not in known]
        if unknown:
            available = ', '.join(s.name for s in scenes[:12])
            raise ValueError(f'scenes {unknown} are not in the info files (scenes there: '
                             f'{available}{" ..." if len(scenes) > 12 else ""})')
        scenes = [s for s in scenes if s.scene_token in wanted or s.name in wanted]
    if shard is not None:
        index, count = shard
        scenes = scenes[index::count]
    return scenes


def _check_out_dir(out_dir: str, scenes: list) -> None:
    """Refuse an output folder that holds raw keyframe clouds (it would overwrite them)."""
    out_real = osp.realpath(out_dir)
    for scene in scenes:
        for frame in scene.frames:
            if osp.realpath(osp.dirname(frame.lidar_path)) == out_real:
                raise ValueError(f'output folder {out_dir} is the folder of the raw clouds '
                                 f'({frame.lidar_path}); choose another --out (default '
                                 f'{DEFAULT_OUT})')


def _read_manifest(out_dir: str) -> dict | None:
    path = osp.join(out_dir, MANIFEST)
    if not osp.isfile(path):
        return None
    with open(path) as file:
        return json.load(file)


def _check_manifest(out_dir: str, version: str, options: OCFOptions, force: bool,
                    pseudo: dict | None = None) -> None:
    """Record the options (and pseudo labels) in ``<out>/ocf_options.json``; refuse to mix
    other options."""
    wanted = dict(version=version, options=options.to_dict())
    if pseudo is not None:
        wanted['pseudo_labels'] = pseudo
    found = _read_manifest(out_dir)
    if found is not None and isinstance(found.get('options'), dict):
        # options added to OCFOptions later read as their defaults
        found = dict(found, options=dict(OCFOptions().to_dict(), **found['options']))
    if found is not None and found != wanted and not force:
        raise ValueError(f'{out_dir} holds OCFs built with other options ({found}); pass '
                         '--force to rebuild them, or choose another --out')
    if found != wanted:
        os.makedirs(out_dir, exist_ok=True)
        tmp = osp.join(out_dir, f'.{MANIFEST}.{os.getpid()}.tmp')
        with open(tmp, 'w') as file:
            json.dump(wanted, file, indent=1)
        os.replace(tmp, osp.join(out_dir, MANIFEST))


def _run(jobs: list, workers: int, progress: bool):
    """Yield the :class:`SceneStats` of each job (in process for one worker)."""
    from tqdm import tqdm
    total = sum(len(job.scene.frames) for job in jobs)
    with tqdm(total=total, desc='OCF', unit='keyframe', disable=not progress) as bar:
        if workers <= 1 or len(jobs) <= 1:
            for job in jobs:
                stats = run_scene(job)
                bar.update(stats.frames_written + stats.frames_skipped)
                yield stats
            return
        with multiprocessing.get_context().Pool(min(workers, len(jobs))) as pool:
            for stats in pool.imap_unordered(run_scene, jobs):
                bar.update(stats.frames_written + stats.frames_skipped)
                yield stats


def _write_infos(path: str, data: dict, root: str, out_dir: str, suffix: str,
                 manifest: dict | None, pseudo_instances: dict | None = None) -> tuple:
    """Write ``<name><suffix>.pkl``: a copy of the info file whose samples carry ``ocf_path``
    (root-relative when the OCF folder is under the root) for every OCF on disk, None for
    the others; pseudo-labelled samples also ``labelled: False`` and ``pseudo_instances``.
    Returns (path written, samples without an OCF)."""
    stem = path[:-4] if path.endswith('.pkl') else path
    dst = stem + suffix + '.pkl'
    root_real = osp.realpath(root)
    out_real = osp.realpath(out_dir)
    inside = out_real == root_real or out_real.startswith(root_real + os.sep)
    data_list, missing = [], 0
    for info in data['data_list']:
        name = osp.basename(info['lidar_points']['lidar_path'])
        ocf_file = osp.join(out_dir, name)
        if osp.isfile(ocf_file):
            value = osp.relpath(osp.join(out_real, name), root_real) if inside else \
                osp.abspath(ocf_file)
        else:
            value, missing = None, missing + 1
        info = dict(info, ocf_path=value)
        if pseudo_instances and info['token'] in pseudo_instances:
            info.update(labelled=False, pseudo_instances=pseudo_instances[info['token']])
        data_list.append(info)
    metainfo = dict(data.get('metainfo') or {})
    metainfo['ocf'] = dict(out=osp.relpath(out_real, root_real) if inside else out_real,
                           **(manifest or {}))
    dump_atomic(dict(data, metainfo=metainfo, data_list=data_list), dst)
    return dst, missing


__all__ = ['make_ocf', 'run_scene', 'parse_shard', 'default_info_files', 'OCFSummary',
           'SceneJob', 'SceneStats', 'DEFAULT_OUT']
