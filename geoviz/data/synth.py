"""Procedural pinhole scenes with exact depth: the demo assets and the known-answer tests.

A camera at height ``cam_height`` above a ground plane (``y = 0``) looks horizontally (+z) at a back
wall (``z = wall_z``). Floor and wall carry procedural periodic materials whose period is given in
metres (square tiles, running-bond bricks, planks, plaster). An object — a box, a cylinder or a
sphere — stands on the floor. Every pixel is ray-traced: RGB from ``supersample²`` rays per pixel
(anti-aliased), metric depth ``Z`` (camera z, metres), the object's coverage and the material
region's coverage from the same rays; depth from the pixel's centre ray (never mixed across an edge).

Known answers hold by construction: a box whose front face is perpendicular to the optical axis and
spans the camera height and axis shows only that face, so scaling it by ``s`` about its front-bottom
centre scales its image by exactly ``s`` about the contact point, and its projected height is
``f_px·h/Z``. A wall facing the camera shows its material at ``f_px·period/wall_z`` pixels.

    python -m geoviz.data.synth --out assets/     # regenerate the demo assets (deterministic)
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import torch

__all__ = [
    "Camera",
    "Material",
    "SceneObject",
    "Region",
    "Scene",
    "Render",
    "render",
    "scale_object",
    "shift_object",
    "without_object",
    "scale_region_period",
    "rotate_region_material",
    "background_drift",
    "boundary_blur",
    "add_noise",
    "demo_scene",
    "random_box_scene",
    "write_assets",
    "write_dataset",
]

_DTYPE = torch.float32  # ample for sub-pixel geometry; deterministic on a given machine


@dataclass(frozen=True)
class Camera:
    """Pinhole intrinsics and pose: principal point at the image centre, no pitch, no roll.

    ``f_px`` is the focal length in pixels; ``sensor_width_mm`` gives ``f_mm = f_px·sensor/width``.
    """

    width: int = 512
    height: int = 512
    f_px: float = 640.0
    cam_height: float = 0.55
    sensor_width_mm: float = 36.0

    @property
    def f_mm(self) -> float:
        """The focal length in millimetres, ``f_px·sensor_width_mm/width``."""
        return self.f_px * self.sensor_width_mm / self.width

    def to_dict(self) -> dict:
        """The camera as written to ``camera.json``: ``f_px``, ``f_mm``, ``sensor_width_mm``, ``width``,
        ``height`` (pixels), the principal point ``cx``, ``cy`` (pixels, the image centre) and
        ``cam_height_m`` (metres above the floor)."""
        return {
            "f_px": self.f_px,
            "f_mm": self.f_mm,
            "sensor_width_mm": self.sensor_width_mm,
            "width": self.width,
            "height": self.height,
            "cx": self.width / 2,
            "cy": self.height / 2,
            "cam_height_m": self.cam_height,
        }


@dataclass(frozen=True)
class Material:
    """A procedural surface. ``period`` (m) is the repeat along the pattern's ``u`` axis: the tile
    side, the brick length (course height ``period·aspect``), the plank width; ``angle_deg`` rotates
    the pattern in its plane."""

    kind: str = "tiles"  # tiles | bricks | planks | plaster
    period: float = 0.3
    aspect: float = 1.0
    joint: float = 0.012  # grout / mortar width, m
    color: tuple[float, float, float] = (0.78, 0.76, 0.72)
    joint_color: tuple[float, float, float] = (0.45, 0.44, 0.42)
    jitter: float = 0.12
    angle_deg: float = 0.0
    seed: int = 0


@dataclass(frozen=True)
class SceneObject:
    """An object on the floor. ``x``, ``z``: its ground contact point (box: front-bottom centre;
    cylinder and sphere: the point under the centre). Sizes in metres; ``scale`` multiplies them
    about the contact point."""

    shape: str = "box"  # box | cylinder | sphere
    x: float = 0.0
    z: float = 3.0
    width: float = 0.6  # box width, cylinder/sphere diameter
    height: float = 0.9  # box / cylinder height
    depth: float = 0.4  # box depth
    color: tuple[float, float, float] = (0.85, 0.25, 0.18)
    label_color: tuple[float, float, float] = (0.95, 0.93, 0.86)
    scale: float = 1.0


@dataclass(frozen=True)
class Region:
    """A rectangle of the wall (wall-plane metres: ``x`` left→right, ``y`` up) carrying its own material."""

    x0: float
    x1: float
    y0: float
    y1: float
    material: Material


@dataclass(frozen=True)
class Scene:
    """A room to render: ``camera``; ``floor`` and ``wall`` materials; ``wall_z`` (m) the back wall's
    distance; ``obj`` the object on the floor (None: none); ``region`` a rectangle of the wall with its
    own material (None: none); ``light`` the direction toward the light (world axes: x right, y up,
    z away from the camera; normalised when rendering)."""

    camera: Camera = field(default_factory=Camera)
    floor: Material = field(default_factory=lambda: Material("planks", period=0.18, aspect=6.0, joint=0.004,
                                                                 color=(0.62, 0.45, 0.30), joint_color=(0.30, 0.20, 0.13), seed=3))
    wall: Material = field(default_factory=lambda: Material("bricks", period=0.24, aspect=0.32, joint=0.012,
                                                                color=(0.66, 0.34, 0.26), joint_color=(0.80, 0.78, 0.74), seed=5))
    wall_z: float = 6.5
    obj: SceneObject | None = field(default_factory=SceneObject)
    region: Region | None = None
    light: tuple[float, float, float] = (-0.45, 0.75, -0.5)


@dataclass
class Render:
    """One rendered view. Arrays are ``[H,W]`` (``rgb`` ``[H,W,3]``), float32."""

    rgb: np.ndarray
    depth: np.ndarray  # metric Z (m)
    mask: np.ndarray  # object coverage in [0,1]
    region_mask: np.ndarray  # material-region coverage in [0,1]
    camera: dict
    floor_mask: np.ndarray | None = None  # visible floor coverage in [0,1]
    wall_mask: np.ndarray | None = None  # visible wall coverage (the region included) in [0,1]

    @property
    def inv_depth(self) -> np.ndarray:
        """``1 / depth``: inverse metric depth ``[H,W]`` float32, in 1/m."""
        return (1.0 / self.depth).astype(np.float32)


# ---- procedural materials ------------------------------------------------------------------------


def _hash01(i: torch.Tensor, j: torch.Tensor, seed: int) -> torch.Tensor:
    """Deterministic pseudo-random value in [0,1) per integer cell (integer mixing, no RNG state)."""
    h = (i.to(torch.int64) * 73856093) ^ (j.to(torch.int64) * 19349663) ^ (seed * 83492791 + 12345)
    h = (h ^ (h >> 13)) * 1274126177
    h = h ^ (h >> 16)
    return (h & 0xFFFF).to(_DTYPE) / 65536.0


def _mix(a, b, t):
    return a + (b - a) * t


def _shade_material(mat: Material, u: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """Albedo ``[3,N]`` of ``mat`` at plane coordinates ``u`` (right), ``v`` (up), metres."""
    if mat.angle_deg:
        a = math.radians(mat.angle_deg)
        u, v = u * math.cos(a) + v * math.sin(a), -u * math.sin(a) + v * math.cos(a)
    base = torch.tensor(mat.color, dtype=_DTYPE, device=u.device).view(3, 1)
    joint_c = torch.tensor(mat.joint_color, dtype=_DTYPE, device=u.device).view(3, 1)
    p = mat.period
    if mat.kind == "plaster":
        n = 0.5 + 0.3 * torch.sin(u * 3.1 + 0.8 * torch.sin(v * 2.3)) * torch.sin(v * 2.7 + 1.1 + 0.5 * torch.sin(u * 1.7))
        n = n + 0.08 * torch.sin(u * 41.0 + 2.0 * torch.sin(v * 13.0)) * torch.sin(v * 37.0)
        return base * (1.0 + mat.jitter * (n - 0.5))
    if mat.kind == "tiles":
        pv = p * mat.aspect
        iu, iv = torch.floor(u / p), torch.floor(v / pv)
        fu, fv = u / p - iu, v / pv - iv
        eu = torch.minimum(fu, 1 - fu) * p  # distance to the nearest joint, m
        ev = torch.minimum(fv, 1 - fv) * pv
        cell = _hash01(iu, iv, mat.seed)
        # a glazed tile: slight per-tile tint, a soft bevel toward the joints
        bevel = torch.clamp(torch.minimum(eu, ev) / (0.6 * mat.joint + 1e-9), 0, 1) ** 0.5
    elif mat.kind == "bricks":
        pv = p * mat.aspect
        iv = torch.floor(v / pv)
        shifted = u / p + 0.5 * torch.remainder(iv, 2)
        iu = torch.floor(shifted)
        fu, fv = shifted - iu, v / pv - iv
        eu, ev = torch.minimum(fu, 1 - fu) * p, torch.minimum(fv, 1 - fv) * pv
        cell = _hash01(iu, iv, mat.seed)
        bevel = torch.clamp(torch.minimum(eu, ev) / (0.8 * mat.joint + 1e-9), 0, 1) ** 0.7
    elif mat.kind == "planks":
        # planks run along u; ``period`` is the plank width (along v), lengths vary per row
        iv = torch.floor(v / p)
        length = p * mat.aspect
        offset = _hash01(iv, torch.zeros_like(iv), mat.seed) * length
        shifted = (u + offset) / length
        iu = torch.floor(shifted)
        fu, fv = shifted - iu, v / p - iv
        eu, ev = torch.minimum(fu, 1 - fu) * length, torch.minimum(fv, 1 - fv) * p
        cell = _hash01(iu, iv, mat.seed + 1)
        grain = 0.5 + 0.5 * torch.sin(40.0 * v + 3.0 * torch.sin(2.3 * u + 6.0 * cell) + 17.0 * cell)
        bevel = (0.9 + 0.1 * grain) * torch.clamp(torch.minimum(eu, ev) / (0.8 * mat.joint + 1e-9), 0, 1) ** 0.5
    else:
        raise ValueError(f"unknown material kind {mat.kind!r}")
    joint = (torch.minimum(eu, ev) < 0.5 * mat.joint).to(_DTYPE)
    tint = 1.0 + mat.jitter * (cell - 0.5)
    hue = 1.0 + 0.35 * mat.jitter * (_hash01(iu, iv, mat.seed + 7) - 0.5)
    col = base * torch.stack([tint * hue, tint, tint / hue]) * (0.82 + 0.18 * bevel)
    return _mix(col, joint_c, joint)


# ---- ray casting -----------------------------------------------------------------------------------


def _rays(cam: Camera, supersample: int, device: torch.device | str = "cpu") -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Directions ``(dx, dy, 1)`` of every sub-pixel ray, ``[H·ss, W·ss]`` each (camera = world axes)."""
    ss = supersample
    cols = (torch.arange(cam.width * ss, dtype=_DTYPE, device=device) + 0.5) / ss  # pixel centres at j + 0.5
    rows = (torch.arange(cam.height * ss, dtype=_DTYPE, device=device) + 0.5) / ss
    dx = ((cols - cam.width / 2) / cam.f_px).view(1, -1).expand(cam.height * ss, -1)
    dy = (-(rows - cam.height / 2) / cam.f_px).view(-1, 1).expand(-1, cam.width * ss)
    return dx.reshape(-1), dy.reshape(-1), torch.ones(dx.numel(), dtype=_DTYPE, device=device)


def _hit_box(ox, oy, dx, dy, o: SceneObject):
    """Slab test against the box. Returns (t, normal index: 0 ±x, 1 ±y, 2 ±z with sign)."""
    s = o.scale
    lo = torch.tensor([o.x - o.width * s / 2, 0.0, o.z], dtype=_DTYPE, device=dx.device)
    hi = torch.tensor([o.x + o.width * s / 2, o.height * s, o.z + o.depth * s], dtype=_DTYPE, device=dx.device)
    origin = torch.tensor([ox, oy, 0.0], dtype=_DTYPE, device=dx.device)
    d = torch.stack([dx, dy, torch.ones_like(dx)], dim=1)
    inv = 1.0 / torch.where(d == 0, torch.full_like(d, 1e-300), d)
    t0, t1 = (lo - origin) * inv, (hi - origin) * inv
    tmin, tmax = torch.minimum(t0, t1), torch.maximum(t0, t1)
    t_near, axis = tmin.max(dim=1)
    t_far = tmax.min(dim=1).values
    hit = (t_near <= t_far) & (t_near > 0)
    sign = -torch.sign(d.gather(1, axis.view(-1, 1)).squeeze(1))
    return torch.where(hit, t_near, torch.full_like(t_near, math.inf)), axis, sign


def _hit_cylinder(ox, oy, dx, dy, o: SceneObject):
    s = o.scale
    r, h = o.width * s / 2, o.height * s
    cz = o.z  # axis through (x, z)
    px, pz = ox - o.x, -cz
    a = dx * dx + 1.0
    b = 2 * (px * dx + pz)
    c = px * px + pz * pz - r * r
    disc = b * b - 4 * a * c
    sq = torch.sqrt(torch.clamp(disc, min=0))
    t_side = (-b - sq) / (2 * a)
    y_side = oy + t_side * dy
    side_ok = (disc >= 0) & (t_side > 0) & (y_side >= 0) & (y_side <= h)
    t_cap = (h - oy) / torch.where(dy == 0, torch.full_like(dy, 1e-300), dy)
    cx_, cz_ = ox + t_cap * dx - o.x, t_cap - cz
    cap_ok = (t_cap > 0) & (cx_ * cx_ + cz_ * cz_ <= r * r)
    t = torch.where(side_ok, t_side, torch.full_like(t_side, math.inf))
    t = torch.where(cap_ok & (t_cap < t), t_cap, t)
    is_cap = cap_ok & (t == t_cap)
    return t, is_cap


def _hit_sphere(ox, oy, dx, dy, o: SceneObject):
    s = o.scale
    r = o.width * s / 2
    cx, cy, cz = o.x, r, o.z  # rests on the floor at (x, 0, z)
    px, py, pz = ox - cx, oy - cy, -cz
    a = dx * dx + dy * dy + 1.0
    b = 2 * (px * dx + py * dy + pz)
    c = px * px + py * py + pz * pz - r * r
    disc = b * b - 4 * a * c
    t = (-b - torch.sqrt(torch.clamp(disc, min=0))) / (2 * a)
    return torch.where((disc >= 0) & (t > 0), t, torch.full_like(t, math.inf))


def _object_albedo(o: SceneObject, u: torch.Tensor, v: torch.Tensor, face_front: torch.Tensor) -> torch.Tensor:
    """A product look: body colour, a label band with a logo block, darker edges. ``u, v`` in [0,1]
    over the object's visible extent (left→right, bottom→top)."""
    body = torch.tensor(o.color, dtype=_DTYPE, device=u.device).view(3, 1)
    label = torch.tensor(o.label_color, dtype=_DTYPE, device=u.device).view(3, 1)
    band = ((v > 0.42) & (v < 0.66)).to(_DTYPE)
    logo = ((v > 0.48) & (v < 0.60) & (u > 0.22) & (u < 0.46)).to(_DTYPE)
    stripe = ((v > 0.12) & (v < 0.16)).to(_DTYPE)
    col = _mix(body, label, band)
    col = _mix(col, body * 0.55, logo)
    col = _mix(col, label * 0.9, stripe)
    edge = torch.minimum(torch.minimum(u, 1 - u), torch.minimum(v, 1 - v))
    darken = 0.72 + 0.28 * torch.clamp(edge / 0.035, 0, 1) ** 0.6
    return col * torch.where(face_front, darken, torch.full_like(darken, 0.85))


def _object_bounds(o: SceneObject) -> tuple[list[float], list[float], list[float]]:
    """The object's axis-aligned 3-D bounding box as x, y, z ranges."""
    s = o.scale
    if o.shape == "box":
        return [o.x - o.width * s / 2, o.x + o.width * s / 2], [0.0, o.height * s], [o.z, o.z + o.depth * s]
    r = o.width * s / 2
    h = o.height * s if o.shape == "cylinder" else 2 * r
    return [o.x - r, o.x + r], [0.0, h], [o.z - r, o.z + r]


def _screen_window(cam: Camera, o: SceneObject, ss: int) -> tuple[slice, slice] | None:
    """Sub-pixel rows and columns the object can cover (its projected bounding box, with a margin),
    or None when part of it is behind the camera."""
    xs, ys, zs = _object_bounds(o)
    if min(zs) <= 1e-3:
        return None
    us = [cam.width / 2 + cam.f_px * x / z for x in xs for z in zs]
    vs = [cam.height / 2 - cam.f_px * (y - cam.cam_height) / z for y in ys for z in zs]
    c0 = max(0, int(math.floor(min(us))) - 1) * ss
    c1 = min(cam.width, int(math.ceil(max(us))) + 1) * ss
    r0 = max(0, int(math.floor(min(vs))) - 1) * ss
    r1 = min(cam.height, int(math.ceil(max(vs))) + 1) * ss
    if c0 >= c1 or r0 >= r1:
        return slice(0, 0), slice(0, 0)
    return slice(r0, r1), slice(c0, c1)


def render(scene: Scene, supersample: int = 3, device: torch.device | str = "cpu") -> Render:
    """Ray-trace ``scene`` with ``supersample²`` rays per pixel (``supersample`` odd: the centre ray
    gives each pixel's depth) on ``device``. Returns colour, metric depth and the coverages of object
    and region, as NumPy arrays."""
    if supersample % 2 != 1:
        raise ValueError("supersample must be odd (the centre ray gives each pixel's depth)")
    cam, ss = scene.camera, supersample
    hs, ws = cam.height * ss, cam.width * ss
    dx, dy, _ = _rays(cam, ss, device)
    ox, oy = 0.0, cam.cam_height
    inf = torch.full_like(dx, math.inf)
    # the floor (y = 0) in front of the wall, else the wall (z = wall_z); dz = 1 so t is the depth Z
    down = dy < 0
    t_floor = torch.where(down, -oy / torch.where(down, dy, -torch.ones_like(dy)), inf)
    on_floor = t_floor < scene.wall_z
    t = torch.where(on_floor, t_floor, torch.full_like(dx, scene.wall_z))

    o = scene.obj
    hit_obj = torch.zeros_like(on_floor)
    obj_idx = None
    if o is not None and o.scale > 0:
        window = _screen_window(cam, o, ss)
        grid = torch.arange(hs * ws, device=dx.device).view(hs, ws)
        idx = (grid if window is None else grid[window[0], window[1]]).reshape(-1)
        sdx, sdy = dx[idx], dy[idx]
        extra = None
        if o.shape == "box":
            t_o, axis, sign = _hit_box(ox, oy, sdx, sdy, o)
            extra = (axis, sign)
        elif o.shape == "cylinder":
            t_o, is_cap = _hit_cylinder(ox, oy, sdx, sdy, o)
            extra = is_cap
        elif o.shape == "sphere":
            t_o = _hit_sphere(ox, oy, sdx, sdy, o)
        else:
            raise ValueError(f"unknown shape {o.shape!r}")
        sel = t_o < t[idx]
        obj_idx = idx[sel]
        hit_obj[obj_idx] = True
        t[obj_idx] = t_o[sel]
        if o.shape == "box":
            extra = (extra[0][sel], extra[1][sel])
        elif o.shape == "cylinder":
            extra = extra[sel]
    px, py, pz = ox + t * dx, oy + t * dy, t

    albedo = torch.empty(3, dx.numel(), dtype=_DTYPE, device=dx.device)
    normal = torch.zeros(3, dx.numel(), dtype=_DTYPE, device=dx.device)
    in_region = torch.zeros_like(hit_obj)
    wall_px = ~on_floor & ~hit_obj
    if scene.region is not None:
        r = scene.region
        in_region = wall_px & (px >= r.x0) & (px < r.x1) & (py >= r.y0) & (py < r.y1)
        wall_px &= ~in_region
    floor_idx = torch.nonzero(on_floor & ~hit_obj).squeeze(1)
    wall_idx = torch.nonzero(wall_px).squeeze(1)
    albedo[:, floor_idx] = _shade_material(scene.floor, px[floor_idx], -pz[floor_idx])
    albedo[:, wall_idx] = _shade_material(scene.wall, px[wall_idx], py[wall_idx])
    normal[1, floor_idx] = 1.0
    normal[2, wall_idx] = -1.0
    if scene.region is not None:
        region_idx = torch.nonzero(in_region).squeeze(1)
        # region coordinates start at its lower-left corner, so a period change is anchored there
        albedo[:, region_idx] = _shade_material(r.material, px[region_idx] - r.x0, py[region_idx] - r.y0)
        normal[2, region_idx] = -1.0

    if obj_idx is not None and obj_idx.numel():
        s = o.scale
        hx, hy, hz = px[obj_idx], py[obj_idx], pz[obj_idx]
        if o.shape == "box":
            ax, sg = extra
            nn = torch.zeros(3, hx.numel(), dtype=_DTYPE, device=hx.device)
            nn[ax, torch.arange(hx.numel(), device=hx.device)] = sg
            across = (hx - (o.x - o.width * s / 2)) / (o.width * s)
            along = (hz - o.z) / (o.depth * s)
            u = torch.where(ax == 2, across, along)
            v = torch.where(ax == 1, along, hy / (o.height * s))
            front = ax == 2
        elif o.shape == "cylinder":
            cap = extra
            nn = torch.stack([hx - o.x, torch.zeros_like(hx), hz - o.z])
            nn = nn / nn.norm(dim=0, keepdim=True).clamp_min(1e-12)
            nn[:, cap] = torch.tensor([[0.0], [1.0], [0.0]], dtype=_DTYPE, device=hx.device)
            u = 0.5 + torch.atan2(hx - o.x, -(hz - o.z)) / math.pi  # 0.5 faces the camera
            v = hy / (o.height * s)
            front = ~cap
        else:
            rad = o.width * s / 2
            nn = torch.stack([hx - o.x, hy - rad, hz - o.z]) / rad
            u = 0.5 + torch.atan2(hx - o.x, -(hz - o.z)) / math.pi
            v = 0.5 + torch.asin(torch.clamp((hy - rad) / rad, -1, 1)) / math.pi
            front = torch.ones_like(u, dtype=torch.bool)
        normal[:, obj_idx] = nn
        albedo[:, obj_idx] = _object_albedo(o, u, v, front)

    light = torch.tensor(scene.light, dtype=_DTYPE, device=dx.device)
    light = (light / light.norm()).view(3, 1)
    lambert = (normal * light).sum(dim=0).clamp_(min=0.0)
    # a soft fall-off of the light across the room keeps flat walls from looking synthetic
    falloff = 1.0 - 0.18 * torch.clamp((px * px + (py - 1.6) ** 2) / 25.0, 0, 1)
    rgb = (albedo * (0.38 + 0.62 * lambert * falloff)).clamp_(0, 1)

    def pool(x: torch.Tensor) -> np.ndarray:  # [C, N] sub-pixel → [H, W, C] pixel means
        x = torch.nn.functional.avg_pool2d(x.view(1, -1, hs, ws), ss)
        return x[0].permute(1, 2, 0).cpu().numpy().astype(np.float32)

    def centre(x: torch.Tensor) -> np.ndarray:
        return x.view(cam.height, ss, cam.width, ss)[:, ss // 2, :, ss // 2].cpu().numpy().astype(np.float32)

    coverage = pool(torch.stack([hit_obj, in_region, on_floor & ~hit_obj, ~on_floor & ~hit_obj]).to(_DTYPE))
    return Render(rgb=pool(rgb), depth=centre(t), mask=coverage[..., 0], region_mask=coverage[..., 1], camera=cam.to_dict(),
                  floor_mask=coverage[..., 2], wall_mask=coverage[..., 3])


# ---- perturbations ---------------------------------------------------------------------------------
# Scene edits re-render (exact depth); image edits change colour only, so the depth stays exact.


def scale_object(scene: Scene, s: float) -> Scene:
    """The object scaled by ``s`` about its ground contact point."""
    return replace(scene, obj=replace(scene.obj, scale=scene.obj.scale * s))


def shift_object(scene: Scene, dx: float = 0.0, dz: float = 0.0) -> Scene:
    """The object moved on the floor by ``dx`` (right) and ``dz`` (away), metres."""
    return replace(scene, obj=replace(scene.obj, x=scene.obj.x + dx, z=scene.obj.z + dz))


def without_object(scene: Scene) -> Scene:
    """The scene with its object removed (floor, wall and region unchanged): the context view."""
    return replace(scene, obj=None)


def scale_region_period(scene: Scene, s: float) -> Scene:
    """The region's material period scaled by ``s`` (anchored at the region's lower-left corner)."""
    r = scene.region
    return replace(scene, region=replace(r, material=replace(r.material, period=r.material.period * s)))


def rotate_region_material(scene: Scene, degrees: float) -> Scene:
    """The region's material pattern rotated in the wall plane by ``degrees`` (added to its
    ``angle_deg``; the rotation is about the region's lower-left corner, where its pattern coordinates
    start). The scene must have a region."""
    r = scene.region
    m = r.material
    return replace(scene, region=replace(r, material=replace(m, angle_deg=m.angle_deg + degrees)))


def _soft_outside(mask: np.ndarray, grow: int = 3) -> np.ndarray:
    """1 far from the mask, 0 on it, a short ramp between (so a drift has no hard seam)."""
    from scipy.ndimage import distance_transform_edt

    dist = distance_transform_edt(mask < 0.5)
    return np.clip((dist - 1.0) / grow, 0.0, 1.0).astype(np.float32)


def background_drift(rgb: np.ndarray, mask: np.ndarray, gain=(1.07, 1.03, 0.95), offset: float = 0.015) -> np.ndarray:
    """Brightness / colour drift outside the mask (what a LoRA that 'repaints' the scene does)."""
    w = _soft_outside(mask)[..., None]
    drifted = np.clip(rgb * np.asarray(gain, dtype=np.float32) + offset, 0.0, 1.0)
    return (rgb * (1 - w) + drifted * w).astype(np.float32)


def boundary_blur(rgb: np.ndarray, mask: np.ndarray, sigma: float = 2.0, width: int = 4) -> np.ndarray:
    """Blur a band of ``width`` px around the mask's contour (a soft, uncertain object edge)."""
    from scipy.ndimage import distance_transform_edt, gaussian_filter

    m = mask > 0.5
    dist = np.where(m, distance_transform_edt(m), distance_transform_edt(~m))  # to the contour
    w = np.clip(1.0 - dist / width, 0.0, 1.0)[..., None].astype(np.float32)
    blurred = np.stack([gaussian_filter(rgb[..., c], sigma) for c in range(3)], axis=-1)
    return (rgb * (1 - w) + blurred * w).astype(np.float32)


def add_noise(rgb: np.ndarray, mask: np.ndarray | None, sigma: float, seed: int) -> np.ndarray:
    """Gaussian noise of ``sigma`` (inside ``mask`` only when given)."""
    rng = np.random.default_rng(seed)
    noise = rng.normal(0.0, sigma, size=rgb.shape).astype(np.float32)
    if mask is not None:
        noise *= mask[..., None]
    return np.clip(rgb + noise, 0.0, 1.0).astype(np.float32)


# ---- the demo assets -------------------------------------------------------------------------------


def demo_scene(size: int = 512) -> Scene:
    """The insertion demo: a box facing the camera (which sits inside its height and width, so only
    its front face shows and a scale about its contact point is an exact image scale)."""
    cam = Camera(width=size, height=size, f_px=640.0 * size / 512, cam_height=0.55, sensor_width_mm=36.0)
    return Scene(camera=cam, obj=SceneObject("box", x=0.05, z=3.2, width=0.62, height=0.92, depth=0.45))


def tiles_scene(size: int = 512) -> Scene:
    """The material-replacement demo: a plaster wall whose lower half is re-tiled (the region)."""
    cam = Camera(width=size, height=size, f_px=560.0 * size / 512, cam_height=1.1, sensor_width_mm=36.0)
    tiles = Material("tiles", period=0.16, joint=0.012, color=(0.74, 0.81, 0.85), joint_color=(0.50, 0.50, 0.48),
                     jitter=0.05, seed=11)
    wall = Material("plaster", period=1.0, color=(0.86, 0.83, 0.76), jitter=0.08)
    region = Region(x0=-1.9, x1=1.9, y0=0.0, y1=2.2, material=tiles)
    return Scene(camera=cam, wall=wall, wall_z=4.0, obj=None, region=region)


def _save_png(path: Path, rgb01: np.ndarray) -> None:
    from PIL import Image

    arr = np.clip(np.rint(rgb01 * 255.0), 0, 255).astype(np.uint8)
    Image.fromarray(arr).save(path, optimize=False, compress_level=9)


def _save_npy(path: Path, arr: np.ndarray) -> None:
    np.save(path, arr.astype(np.float32), allow_pickle=False)


def _save_depth(path: Path, arr: np.ndarray) -> None:
    """A bundled depth map as compressed ``.npz`` (key ``depth``, float32: exact, and a synthetic
    scene's piecewise-smooth depth compresses ~300×)."""
    np.savez_compressed(path, depth=arr.astype(np.float32))


def _save_json(path: Path, obj) -> None:
    path.write_text(json.dumps(obj, indent=2, sort_keys=True) + "\n")


INSERT_PREDICTIONS = {  # checkpoint → (object scale, image edit)
    "step_0500": (0.80, None),
    "step_1000": (0.90, None),
    "step_2000": (1.00, "noise"),
    "step_3000": (1.10, "drift"),
}
TILES_PREDICTIONS = {  # checkpoint → (period scale, rotation in degrees)
    "period_0.80": (0.80, 0.0),
    "period_1.00": (1.00, 0.0),
    "period_1.25": (1.25, 0.0),
    "rotated_15": (1.00, 15.0),
}


def write_insert_box(out: Path, size: int = 512) -> dict:
    scene = demo_scene(size)
    (out / "pred").mkdir(parents=True, exist_ok=True)
    (out / "pred_depth").mkdir(exist_ok=True)
    target = render(scene)
    context = render(without_object(scene))
    _save_png(out / "context.png", context.rgb)
    _save_png(out / "target.png", target.rgb)
    _save_png(out / "mask.png", target.mask)
    _save_depth(out / "target_depth.npz", target.depth)
    _save_json(out / "camera.json", target.camera)
    truth = {"object": dataclasses.asdict(scene.obj), "predictions": {}}
    for i, (name, (s, edit)) in enumerate(INSERT_PREDICTIONS.items()):
        r = render(scale_object(scene, s))
        rgb = r.rgb
        if edit == "noise":
            rgb = add_noise(rgb, r.mask, sigma=0.01, seed=100 + i)
        elif edit == "drift":
            rgb = background_drift(rgb, r.mask)
        _save_png(out / "pred" / f"{name}.png", rgb)
        _save_depth(out / "pred_depth" / f"{name}.npz", r.depth)
        truth["predictions"][name] = {"object_scale": s, "edit": edit, "mask_area_px": float(r.mask.sum())}
    truth["target_mask_area_px"] = float(target.mask.sum())
    _save_json(out / "truth.json", truth)
    return truth


def write_tiles_wall(out: Path, size: int = 512) -> dict:
    scene = tiles_scene(size)
    (out / "pred").mkdir(parents=True, exist_ok=True)
    (out / "pred_depth").mkdir(exist_ok=True)
    target = render(scene)
    context = render(replace(scene, region=None))
    _save_png(out / "context.png", context.rgb)
    _save_png(out / "target.png", target.rgb)
    _save_png(out / "mask.png", target.region_mask)
    _save_depth(out / "target_depth.npz", target.depth)
    _save_json(out / "camera.json", target.camera)
    period_px = scene.camera.f_px * scene.region.material.period / scene.wall_z
    truth = {"tile_period_m": scene.region.material.period, "tile_period_px": period_px, "predictions": {}}
    for name, (s, angle) in TILES_PREDICTIONS.items():
        sc = scale_region_period(scene, s)
        if angle:
            sc = rotate_region_material(sc, angle)
        r = render(sc)
        _save_png(out / "pred" / f"{name}.png", r.rgb)
        _save_depth(out / "pred_depth" / f"{name}.npz", r.depth)
        truth["predictions"][name] = {"period_scale": s, "rotation_deg": angle, "tile_period_px": period_px * s}
    _save_json(out / "truth.json", truth)
    return truth


CALIBRATION = [  # (depth of the box front, m; focal length, px at 512 wide) — 24 samples
    (2.0 + 6.0 * i / 23, (400.0, 480.0, 560.0, 660.0, 780.0, 900.0)[i % 6]) for i in range(24)
]


def calibration_scene(z: float, f_px: float, size: int = 512) -> Scene:
    cam = Camera(width=size, height=size, f_px=f_px * size / 512, cam_height=0.55, sensor_width_mm=36.0)
    return Scene(camera=cam, wall_z=10.0, obj=SceneObject("box", x=0.0, z=z, width=0.62, height=0.92, depth=0.45))


def write_calibration(out: Path, size: int = 512) -> dict:
    truth = {}
    for i, (z, f) in enumerate(CALIBRATION):
        d = out / f"{i:02d}"
        d.mkdir(parents=True, exist_ok=True)
        scene = calibration_scene(z, f, size)
        r = render(scene)
        _save_png(d / "mask.png", r.mask)
        _save_depth(d / "depth.npz", r.depth)
        _save_json(d / "camera.json", r.camera)
        truth[f"{i:02d}"] = {"z_front_m": z, "f_px": scene.camera.f_px}
    obj = calibration_scene(2.0, 500.0, size).obj
    k_true = math.sqrt(obj.width * obj.height)  # sqrt(area) = f·sqrt(w·h)/Z for the front face
    _save_json(out / "truth.json", {"k_obj_depth_mode": k_true, "samples": truth})
    return truth


def random_box_scene(rng: np.random.Generator, size: int, x=(-0.08, 0.08), z=(2.8, 4.0), width=(0.5, 0.7),
                     height=(0.85, 1.0), color=(0.2, 0.9)) -> Scene:
    """The demo room (``size``²) with a 0.4 m deep box drawn uniformly from the given ranges (metres;
    ``color`` per channel) and random floor and wall material seeds, drawn from ``rng`` in a fixed
    order (so a seed gives the same scenes)."""
    obj = SceneObject("box", x=float(rng.uniform(*x)), z=float(rng.uniform(*z)), width=float(rng.uniform(*width)),
                      height=float(rng.uniform(*height)), depth=0.4,
                      color=tuple(float(c) for c in rng.uniform(*color, 3)))
    base = demo_scene(size)
    return replace(base, obj=obj, floor=replace(base.floor, seed=int(rng.integers(1000))),
                   wall=replace(base.wall, seed=int(rng.integers(1000))))


def write_dataset(out: Path, n_samples: int = 6, checkpoints: dict[str, float] | None = None, size: int = 256,
                  seed: int = 0) -> Path:
    """A dataset in the CLI's layout: ``out/<sample>/{context,target,mask}.png, target_depth.npy,
    camera.json`` and ``out/preds/<checkpoint>/<sample>.png`` (+ ``pred_depth/``), each checkpoint
    rendering every sample's object at its own scale error. Varies the box's position, size and the
    materials per sample; deterministic."""
    out = Path(out)
    checkpoints = checkpoints or {"ckpt_0500": 0.85, "ckpt_1000": 1.0, "ckpt_1500": 1.15}
    rng = np.random.default_rng(seed)
    for i in range(n_samples):
        name = f"sample_{i:03d}"
        scene = random_box_scene(rng, size)
        d = out / name
        d.mkdir(parents=True, exist_ok=True)
        target, context = render(scene), render(without_object(scene))
        _save_png(d / "context.png", context.rgb)
        _save_png(d / "target.png", target.rgb)
        _save_png(d / "mask.png", target.mask)
        _save_npy(d / "target_depth.npy", target.depth)
        _save_json(d / "camera.json", target.camera)
        for ck, s in checkpoints.items():
            r = render(scale_object(scene, s))
            (out / "preds" / ck / "pred_depth").mkdir(parents=True, exist_ok=True)
            _save_png(out / "preds" / ck / f"{name}.png", r.rgb)
            _save_npy(out / "preds" / ck / "pred_depth" / f"{name}.npy", r.depth)
    return out


def write_assets(out: Path, size: int = 512) -> None:
    """Render the demo assets into ``out`` (deterministic): ``insert_box/`` and ``tiles_wall/`` (context,
    target, mask, ``target_depth.npy``, ``camera.json``, ``pred/`` and ``pred_depth/`` per checkpoint,
    ``truth.json``) and ``calibration/`` (24 samples of mask, depth and camera, and ``truth.json``).
    ``size`` is the image side in pixels."""
    out = Path(out)
    write_insert_box(out / "insert_box", size)
    write_tiles_wall(out / "tiles_wall", size)
    write_calibration(out / "calibration", size)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="python -m geoviz.data.synth", description="Regenerate the demo assets.")
    ap.add_argument("--out", type=Path, default=Path("assets"))
    ap.add_argument("--size", type=int, default=512)
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    write_assets(args.out, args.size)
    print(f"wrote {args.out} in {time.perf_counter() - t0:.1f} s")


if __name__ == "__main__":
    main()
