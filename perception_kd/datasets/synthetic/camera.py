"""Six nuScenes-like cameras and a small CPU rasteriser (PIL polygons, painter's algorithm).

Camera frame: z forward, x right, y down (as nuScenes). The rasteriser draws the sky, the
ground (terrain, road, sidewalks, lane marks) and every box face facing the camera, far
to near, shaded by a fixed sun and faded with distance, so images carry perspective,
size, shading and occlusion cues. It can also draw an instance map (object index + 1 per
pixel, 0 for sky/ground, >= 1_000_000 for structures) for tests and superpixels.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw

from ...structures.transforms import invert, make_transform
from .catalog import SKY_HORIZON, SKY_TOP, SURFACES
from .world import LANE_MARKS, SIDEWALK, Primitives, World

STRUCTURE_ID = 1_000_000
NEAR = 0.3
_LIGHT = np.array([0.4, 0.3, 1.0]) / np.linalg.norm([0.4, 0.3, 1.0])


@dataclass(frozen=True)
class CameraSpec:
    """Mounting and lens of one camera at the reference 1600x900 resolution."""
    channel: str
    yaw_deg: float
    translation: tuple[float, float, float]
    focal: float
    principal: tuple[float, float] = (816.0, 491.0)

    def cam2ego(self) -> np.ndarray:
        """4x4 camera -> ego: camera z looks along the yaw, x to its right, y down."""
        yaw = np.deg2rad(self.yaw_deg)
        forward = np.array([np.cos(yaw), np.sin(yaw), 0.0])
        right = np.array([np.sin(yaw), -np.cos(yaw), 0.0])
        down = np.array([0.0, 0.0, -1.0])
        return make_transform(np.stack([right, down, forward], 1), self.translation)

    def intrinsics(self, width: int, height: int) -> np.ndarray:
        """3x3 intrinsics scaled from 1600x900 to (width, height)."""
        sx, sy = width / 1600.0, height / 900.0
        return np.array([[self.focal * sx, 0.0, self.principal[0] * sx],
                         [0.0, self.focal * sy, self.principal[1] * sy],
                         [0.0, 0.0, 1.0]])


CAMERAS: list[CameraSpec] = [
    CameraSpec('CAM_FRONT', 0.0, (1.70, 0.016, 1.51), 1266.4),
    CameraSpec('CAM_FRONT_RIGHT', -55.0, (1.55, -0.49, 1.50), 1260.8),
    CameraSpec('CAM_BACK_RIGHT', -110.0, (1.01, -0.48, 1.56), 1259.7),
    CameraSpec('CAM_BACK', 180.0, (0.03, 0.004, 1.58), 800.0, (800.0, 450.0)),
    CameraSpec('CAM_BACK_LEFT', 110.0, (1.04, 0.48, 1.59), 1256.7),
    CameraSpec('CAM_FRONT_LEFT', 55.0, (1.52, 0.49, 1.51), 1272.6),
]


def clip_near(poly: np.ndarray, near: float = NEAR) -> np.ndarray:
    """Clip a polygon (n, 3) in the camera frame to z >= near (Sutherland-Hodgman)."""
    out = []
    n = len(poly)
    for i in range(n):
        a, b = poly[i], poly[(i + 1) % n]
        a_in, b_in = a[2] >= near, b[2] >= near
        if a_in:
            out.append(a)
        if a_in != b_in:
            t = (near - a[2]) / (b[2] - a[2])
            out.append(a + t * (b - a))
    return np.asarray(out).reshape(-1, 3)


class Rasteriser:
    """Draws one camera view of a world at one instant."""

    def __init__(self, spec: CameraSpec, width: int, height: int):
        self.spec, self.width, self.height = spec, width, height
        self.K = spec.intrinsics(width, height)
        self.cam2ego = spec.cam2ego()

    def render(self, world: World, t: float, ego2global: np.ndarray,
               prims: Primitives | None = None, with_ids: bool = False):
        """RGB image (H, W, 3) uint8 and, with ``with_ids``, the instance map (H, W) int32."""
        cam2global = ego2global @ self.cam2ego
        self._g2c = invert(cam2global)
        self._cam_pos = cam2global[:3, 3]
        self._image = Image.fromarray(self._sky())
        self._draw = ImageDraw.Draw(self._image)
        self._with_ids = with_ids
        self._ground(world)
        self._boxes(world.primitives(t) if prims is None else prims)
        return self._rgb, self._id_arr

    # -- drawing helpers -------------------------------------------------------------
    def _sky(self) -> np.ndarray:
        rows = np.linspace(0.0, 1.0, self.height)[:, None]
        sky = np.array(SKY_TOP)[None] * (1 - rows) + np.array(SKY_HORIZON)[None] * rows
        return np.repeat(sky[:, None, :], self.width, 1).astype(np.uint8)

    def _project(self, cam: np.ndarray):
        """Camera-frame polygon (n, 3) -> pixels (m, 2) after near-plane clipping, or None."""
        if cam[:, 2].max() < NEAR:
            return None
        if cam[:, 2].min() < NEAR:
            cam = clip_near(cam)
            if len(cam) < 3:
                return None
        uv = cam @ self.K.T
        return uv[:, :2] / uv[:, 2:3]

    def _polygon(self, world_poly: np.ndarray, colour):
        """Ground polygons: painted in order, no depth test (the ground hides nothing)."""
        uv = self._project(world_poly @ self._g2c[:3, :3].T + self._g2c[:3, 3])
        if uv is None:
            return
        if (uv[:, 0].max() < 0 or uv[:, 0].min() > self.width or uv[:, 1].max() < 0
                or uv[:, 1].min() > self.height):
            return
        self._draw.polygon([tuple(p) for p in np.clip(uv, -1e5, 1e5)],
                           fill=tuple(int(c) for c in colour))

    def _fog(self, colour, dist):
        alpha = min(dist / 220.0, 0.65)
        return np.asarray(colour, dtype=np.float64) * (1 - alpha) + np.asarray(SKY_HORIZON) * alpha

    def _ground(self, world: World):
        cx, cy = self._cam_pos[:2]
        size = 400.0
        self._polygon(np.array([[cx - size, cy - size, 0], [cx + size, cy - size, 0],
                                [cx + size, cy + size, 0], [cx - size, cy + size, 0]]),
                      self._fog(SURFACES['terrain'][2], 120.0))
        s_cam, _ = world.road.to_sd(cx, cy)
        s_edges = np.arange(float(s_cam) - 90.0, float(s_cam) + 93.0, 3.0)
        zones = [((-SIDEWALK[0], SIDEWALK[0]), 'road'), ((SIDEWALK[0], SIDEWALK[1]), 'sidewalk'),
                 ((-SIDEWALK[1], -SIDEWALK[0]), 'sidewalk')]
        for (d0, d1), kind in zones:
            self._strips(world, s_edges, d0, d1, SURFACES[kind][2])
        for offset, style in LANE_MARKS:
            for d in ((-0.15, 0.15) if style == 'double' else (-offset, offset)):
                if style == 'dashed':
                    starts = np.arange(np.floor(s_edges[0] / 9.0) * 9.0, s_edges[-1], 9.0)
                    for s0 in starts:
                        self._strips(world, np.array([s0, s0 + 3.0]), d - 0.075, d + 0.075,
                                     SURFACES['lane_mark'][2])
                else:
                    self._strips(world, s_edges, d - 0.075, d + 0.075, SURFACES['lane_mark'][2])

    def _strips(self, world: World, s_edges, d0, d1, colour):
        x0, y0, _ = world.road.frame(s_edges, d0)
        x1, y1, _ = world.road.frame(s_edges, d1)
        for i in range(len(s_edges) - 1):
            quad = np.array([[x0[i], y0[i], 0.0], [x0[i + 1], y0[i + 1], 0.0],
                             [x1[i + 1], y1[i + 1], 0.0], [x1[i], y1[i], 0.0]])
            dist = np.linalg.norm(quad.mean(0)[:2] - self._cam_pos[:2])
            self._polygon(quad, self._fog(colour, dist))

    def _boxes(self, prims: Primitives):
        """Box faces facing the camera, z-buffered against each other."""
        self._rgb = np.array(self._image)
        self._zbuf = np.full((self.height, self.width), np.inf, dtype=np.float32)
        self._id_arr = (
            np.zeros((self.height, self.width), dtype=np.int32) if self._with_ids else None
        )
        self._k_inv = np.linalg.inv(self.K)
        dist = np.linalg.norm(prims.centres - self._cam_pos, axis=1)
        cam_centres = prims.centres @ self._g2c[:3, :3].T + self._g2c[:3, 3]
        radius = np.linalg.norm(prims.half, axis=1)
        visible = np.nonzero((dist < 150.0) & (cam_centres[:, 2] > -radius))[0]
        signs = np.array([[-1, -1, -1], [1, -1, -1], [1, 1, -1], [-1, 1, -1],
                          [-1, -1, 1], [1, -1, 1], [1, 1, 1], [-1, 1, 1]], dtype=np.float64)
        faces = [((0, 3, 7, 4), (-1, 0, 0)), ((1, 2, 6, 5), (1, 0, 0)),
                 ((0, 1, 5, 4), (0, -1, 0)), ((3, 2, 6, 7), (0, 1, 0)),
                 ((4, 5, 6, 7), (0, 0, 1)), ((0, 1, 2, 3), (0, 0, -1))]
        for k in visible:
            cos, sin = np.cos(prims.yaw[k]), np.sin(prims.yaw[k])
            rot = np.array([[cos, -sin, 0.0], [sin, cos, 0.0], [0.0, 0.0, 1.0]])
            corners = prims.centres[k] + (signs * prims.half[k]) @ rot.T
            ident = prims.owner[k] + 1 if prims.owner[k] >= 0 else STRUCTURE_ID + k
            for idx, normal in faces:
                n_world = rot @ np.asarray(normal, dtype=np.float64)
                face = corners[list(idx)]
                if np.dot(face.mean(0) - self._cam_pos, n_world) >= 0:
                    continue
                shade = 0.5 + 0.5 * max(0.0, float(n_world @ _LIGHT)) + 0.06 * normal[0]
                colour = self._fog(np.asarray(prims.colour[k], dtype=np.float64) * shade, dist[k])
                self._zface(face, np.clip(colour, 0, 255).astype(np.uint8), ident)

    def _zface(self, world_poly: np.ndarray, colour: np.ndarray, ident: int):
        """Rasterise one planar face with a depth test (depth from the face's plane)."""
        cam = world_poly @ self._g2c[:3, :3].T + self._g2c[:3, 3]
        uv = self._project(cam)
        if uv is None:
            return
        normal = np.cross(cam[1] - cam[0], cam[2] - cam[0])
        offset = float(normal @ cam[0])
        x0, y0 = np.floor(uv.min(0)).astype(int)
        x1, y1 = np.ceil(uv.max(0)).astype(int)
        x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, self.width), min(y1, self.height)
        if x1 <= x0 or y1 <= y0:
            return
        mask_img = Image.new('1', (x1 - x0, y1 - y0), 0)
        ImageDraw.Draw(mask_img).polygon([tuple(p) for p in uv - (x0, y0)], fill=1)
        mask = np.asarray(mask_img)
        us = np.arange(x0, x1) + 0.5
        vs = np.arange(y0, y1) + 0.5
        ray_dot = (normal @ self._k_inv[:, 0]) * us[None, :] + \
            (normal @ self._k_inv[:, 1]) * vs[:, None] + normal @ self._k_inv[:, 2]
        with np.errstate(divide='ignore', invalid='ignore'):
            depth = offset / ray_dot
        zb = self._zbuf[y0:y1, x0:x1]
        sel = mask & (depth > 0) & (depth < zb)
        zb[sel] = depth[sel]
        self._rgb[y0:y1, x0:x1][sel] = colour
        if self._id_arr is not None:
            self._id_arr[y0:y1, x0:x1][sel] = ident
