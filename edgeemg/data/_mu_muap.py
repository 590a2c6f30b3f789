"""HD-EMG grid and motor-unit action potentials (MUAPs) from an analytic volume conductor.

Private helper of :mod:`edgeemg.data.sim_motor_units`.

Volume conductor (what we chose and why)
-----------------------------------------
Each motor unit is a bundle of ``FIBRES_PER_UNIT`` representative fibres parallel
to the skin and to the grid's 13-electrode rows. On every fibre the
intracellular action potential has Rosenfalck's shape
``Vm(s) = (s / lambda)^3 exp(-s / lambda)`` (s: distance behind the wave front)
and travels from the fibre's end-plate towards both tendons at the unit's
conduction velocity. The transmembrane current is the second spatial derivative
of ``Vm`` along the fibre (the core-conductor model), taken numerically on a
0.5 mm grid of the whole fibre with ``Vm`` at rest outside it. That one choice
gives the three components that make real HD-EMG hard: the propagating tripoles
(delay along the fibre direction = conduction velocity), the generation at the
innervation zone (the kink of ``Vm(|x - x_iz|)``) and the extinction at the
tendons (``Vm`` cut at the fibre end), which are non-propagating and appear on
many channels at once. Each current element is seen through the point-source
potential of a homogeneous, anisotropic half-space,
``1 / sqrt(a (x - x_e)^2 + (y - y_e)^2 + d^2)`` with ``a = sigma_r / sigma_z = 0.2``:
the ``d^2`` term is the depth-dependent spatial low-pass (deep units give
wider, smaller, lower-frequency MUAPs) and the ``1/r`` fall-off is the decay
with distance. We did not solve the layered (skin/fat/muscle) problem of Farina
& Merletti (2001): it costs a 2-D inverse transform per unit and its main effect,
extra spatial smoothing by the fat, is approximated here by adding the fat to
the depth. The fibres of a unit are spread over its territory and their
end-plates and tendon ends are jittered, which widens and desynchronises the
MUAP as in a real unit. Electrodes are points (the seed's 1 mm radius is
below the 0.5 mm integration step's effect on a >= 4 mm deep source).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from edgeemg._jit import HAVE_NUMBA, njit
from edgeemg.data._mu_pool import MotorUnitPool

GRID_ROWS = 13  # along the fibres
GRID_COLS = 5  # across the fibres
IED_MM = 8.0
MISSING = ((0, 0),)  # the corner without an electrode (row, column), 0-based
LAYOUT = "hdemg-13x5-8mm"
LAYOUT_SD = "hdemg-13x5-8mm-sd"


@dataclass(frozen=True)
class GridLayout:
    """An electrode grid: ``rows`` along the fibres, ``cols`` across, ``ied_mm`` apart, ``missing`` cells skipped.

    The common commercial HD-EMG layouts are in :data:`GRIDS`; the grid is
    centred over the same muscle whatever its size, so a smaller grid sees
    fewer units, as it would on a real muscle.
    """

    name: str
    rows: int
    cols: int
    ied_mm: float
    missing: tuple[tuple[int, int], ...] = ()

    @property
    def n_channels(self) -> int:
        return self.rows * self.cols - len(self.missing)


GRIDS: dict[str, GridLayout] = {
    # 13 x 5 at 8 mm with one corner empty (64 channels; OT Bioelettronica GR08MM1305, seed 004's grid)
    "13x5-8mm": GridLayout(LAYOUT, GRID_ROWS, GRID_COLS, IED_MM, MISSING),
    # 8 x 8 at 4 mm (64 channels; OT Bioelettronica GR04MM1608 half, TMSi 8x8 4 mm grids)
    "8x8-4mm": GridLayout("hdemg-8x8-4mm", 8, 8, 4.0),
    # 8 x 4 at 10 mm (32 channels; OT Bioelettronica GR10MM0804)
    "8x4-10mm": GridLayout("hdemg-8x4-10mm", 8, 4, 10.0),
}
DEFAULT_GRID = "13x5-8mm"

FIBRES_PER_UNIT = 10
DX_MM = 0.5
ANISOTROPY = 0.2  # sigma_radial / sigma_longitudinal of muscle
IAP_SUPPORT = 25.0  # Rosenfalck's (s/lambda)^3 exp(-s/lambda) is < 1e-6 of its peak beyond 25 lambda
_ADD_AT_SPIKES = 256  # spikes per np.add.at call without numba: bounds the (spikes, L, C) gather to a few MB
TEMPLATE_SAMPLES = 96  # 46.9 ms at 2048 Hz: the slowest, longest fibre's MUAP fits
# Microvolts per (fibre x model unit): fixed so that a 1000-fibre unit 6 mm under
# the skin gives a monopolar MUAP of a few hundred microvolts peak to peak.
UV_PER_MODEL_UNIT = 20.0


def grid_cells(grid: GridLayout = GRIDS[DEFAULT_GRID]) -> list[tuple[int, int]]:
    """Electrode (row, column) pairs in channel order: row-major, missing cells skipped."""
    return [(r, c) for r in range(grid.rows) for c in range(grid.cols) if (r, c) not in grid.missing]


def channel_names(differential: bool = False, grid: GridLayout = GRIDS[DEFAULT_GRID]) -> tuple[str, ...]:
    """``R01C2``-style names (1-based, as DEMUSE's SIG{r,c}); ``R02C1-R01C1`` for single differential."""
    if not differential:
        return tuple(f"R{r + 1:02d}C{c + 1}" for r, c in grid_cells(grid))
    return tuple(f"R{r + 2:02d}C{c + 1}-R{r + 1:02d}C{c + 1}" for r, c in sd_pairs(grid))


def sd_pairs(grid: GridLayout = GRIDS[DEFAULT_GRID]) -> list[tuple[int, int]]:
    """Upper electrode (row, column) of each longitudinal single-differential pair, in order."""
    present = set(grid_cells(grid))
    return [(r, c) for r in range(grid.rows - 1) for c in range(grid.cols)
            if (r, c) in present and (r + 1, c) in present]


def sd_matrix(grid: GridLayout = GRIDS[DEFAULT_GRID]) -> NDArray[np.float32]:
    """(n_electrodes, n_sd) matrix D so that ``x_mono @ D`` is the single-differential signal (lower minus upper)."""
    index = {rc: i for i, rc in enumerate(grid_cells(grid))}
    pairs = sd_pairs(grid)
    d = np.zeros((len(index), len(pairs)), dtype=np.float32)
    for j, (r, c) in enumerate(pairs):
        d[index[(r + 1, c)], j] = 1.0
        d[index[(r, c)], j] = -1.0
    return d


def electrode_positions(shift_mm: tuple[float, float] = (0.0, 0.0), grid: GridLayout = GRIDS[DEFAULT_GRID]
                        ) -> NDArray[np.float64]:
    """Electrode centres (n_electrodes, 2) in mm: column 0 along the fibres, column 1 across; grid centred at 0."""
    cells = np.array(grid_cells(grid), dtype=np.float64)
    x = (cells[:, 0] - (grid.rows - 1) / 2.0) * grid.ied_mm + shift_mm[0]
    y = (cells[:, 1] - (grid.cols - 1) / 2.0) * grid.ied_mm + shift_mm[1]
    return np.stack([x, y], axis=1)


def muap_templates(
    pool: MotorUnitPool, positions_mm: NDArray[np.float64], fs_hz: float, rng: np.random.Generator, gain: float
) -> NDArray[np.float32]:
    """Monopolar MUAP of every unit at every electrode, shape (n_units, TEMPLATE_SAMPLES, n_electrodes), microvolts.

    Sample 0 is the discharge instant (excitation of the end-plates); the MUAP
    starts there because nothing precedes the generation at the end-plate.
    ``rng`` draws the fibre layout inside each territory (subject anatomy).
    """
    n_e = positions_mm.shape[0]
    t_ms = np.arange(TEMPLATE_SAMPLES) * (1000.0 / fs_hz)
    out = np.zeros((pool.n_units, TEMPLATE_SAMPLES, n_e), dtype=np.float32)
    skin = 1.0 + pool.fat_mm
    for u in range(pool.n_units):
        f = FIBRES_PER_UNIT
        rad = pool.territory_radius_mm[u] * np.sqrt(rng.uniform(0.0, 1.0, f))
        ang = rng.uniform(0.0, 2.0 * np.pi, f)
        y_f = pool.transverse_mm[u] + rad * np.cos(ang)
        d_f = np.maximum(pool.depth_mm[u] + rad * np.sin(ang), skin + 0.3)
        iz_f = pool.innervation_zone_mm[u] + 1.5 * rng.standard_normal(f)
        lo_f = iz_f - pool.fibre_left_mm[u] + 3.0 * rng.standard_normal(f)
        hi_f = iz_f + pool.fibre_right_mm[u] + 3.0 * rng.standard_normal(f)
        v_f = pool.conduction_velocity_m_s[u] * (1.0 + 0.02 * rng.standard_normal(f))  # mm/ms
        # Spatial grid covering every fibre of the unit, two steps of margin on each side.
        x = np.arange(lo_f.min() - 2 * DX_MM, hi_f.max() + 2 * DX_MM, DX_MM)
        acc = np.zeros((TEMPLATE_SAMPLES, n_e))
        unit_muap = _unit_muap if HAVE_NUMBA else _unit_muap_numpy  # plain-Python loops: minutes per grid
        unit_muap(x, t_ms, positions_mm, y_f, d_f, iz_f, lo_f, hi_f, v_f, float(pool.iap_length_mm[u]), ANISOTROPY, acc)
        out[u] = (gain * UV_PER_MODEL_UNIT * pool.n_fibres[u] / f) * acc
    return out


@njit(cache=True)
def _unit_muap(x, t_ms, pos, y_f, d_f, iz_f, lo_f, hi_f, v_f, lam, anis, acc):  # pragma: no cover - numba
    """Sum over one unit's fibres of the potential at every electrode and time, into ``acc`` (L, E).

    For each fibre: ``g`` is the point-source potential of a current element
    at grid position ``x[j]`` seen by electrode ``e``; its second difference
    ``d2g`` stands for the d2/dx2 of Vm (summation by parts, Vm = 0 at the grid
    ends), and the potential is ``sum_j Vm(x_j, t) d2g[j, e]`` over the grid
    points where Vm differs from rest: those within ``IAP_SUPPORT`` lambda
    behind either wave front and inside the fibre. All arrays float64.
    """
    nx = x.shape[0]
    n_e = pos.shape[0]
    dx = x[1] - x[0]
    g = np.empty((nx, n_e))
    d2g = np.zeros((nx, n_e))
    cut = IAP_SUPPORT * lam
    for f in range(y_f.shape[0]):
        for j in range(nx):
            for e in range(n_e):
                ax = x[j] - pos[e, 0]
                dy = y_f[f] - pos[e, 1]
                g[j, e] = 1.0 / np.sqrt(anis * ax * ax + dy * dy + d_f[f] * d_f[f])
        for j in range(1, nx - 1):
            for e in range(n_e):
                d2g[j, e] = (g[j + 1, e] - 2.0 * g[j, e] + g[j - 1, e]) / (dx * dx)
        for k in range(t_ms.shape[0]):
            front = v_f[f] * t_ms[k]
            if front <= 0.0:
                continue
            a = max(lo_f[f], iz_f[f] - front)
            b = min(hi_f[f], iz_f[f] + front)
            j0 = max(1, int(np.ceil((a - x[0]) / dx)))
            j1 = min(nx - 2, int(np.floor((b - x[0]) / dx)))
            for j in range(j0, j1 + 1):
                s = (front - abs(x[j] - iz_f[f])) / lam
                if s <= 0.0 or s * lam >= cut:
                    continue
                vm = s * s * s * np.exp(-s)
                for e in range(n_e):
                    acc[k, e] += vm * d2g[j, e]


@njit(cache=True)
def _add_trains_loop(out, templates, spikes, units):  # pragma: no cover - numba
    """:func:`add_trains` as a numba loop: linear in the spikes (60 s of 64 channels in a fraction of a second)."""
    n_samples, n_ch = out.shape
    length = templates.shape[1]
    for n in range(spikes.shape[0]):
        s = spikes[n]
        u = units[n]
        m = min(length, n_samples - s)
        for k in range(m):
            for c in range(n_ch):
                out[s + k, c] += templates[u, k, c]


def _unit_muap_numpy(x, t_ms, pos, y_f, d_f, iz_f, lo_f, hi_f, v_f, lam, anis, acc):  # noqa: ANN001, ANN202
    """:func:`_unit_muap` as array expressions, for installs without numba (same terms, summed in another order).

    Per fibre, Vm at every time and grid point is one (L, nx) array, zero
    where the loop version skips the point, so the sum over the grid is one
    matrix product with ``d2g`` (nx, E).
    """
    dx = x[1] - x[0]
    cut = IAP_SUPPORT * lam
    ax = x[:, None] - pos[None, :, 0]
    grid = np.arange(x.shape[0])
    for f in range(y_f.shape[0]):
        dy = y_f[f] - pos[None, :, 1]
        g = 1.0 / np.sqrt(anis * ax * ax + dy * dy + d_f[f] * d_f[f])
        d2g = np.zeros_like(g)
        d2g[1:-1] = (g[2:] - 2.0 * g[1:-1] + g[:-2]) / (dx * dx)
        front = v_f[f] * t_ms
        j0 = np.maximum(1, np.ceil((np.maximum(lo_f[f], iz_f[f] - front) - x[0]) / dx))
        j1 = np.minimum(x.shape[0] - 2, np.floor((np.minimum(hi_f[f], iz_f[f] + front) - x[0]) / dx))
        s = (front[:, None] - np.abs(x - iz_f[f])[None, :]) / lam
        inside = ((front > 0.0)[:, None] & (grid >= j0[:, None]) & (grid <= j1[:, None])
                  & (s > 0.0) & (s * lam < cut))
        s = np.where(inside, s, 0.0)
        acc += (s * s * s * np.exp(-s)) @ d2g


def add_trains(out: NDArray[np.float32], templates: NDArray[np.float32], spikes: NDArray[np.int64],
               units: NDArray[np.int64]) -> None:
    """Add ``templates[units[n]]`` at sample ``spikes[n]`` into ``out`` for every n.

    ``out`` float32 (T, C) is modified in place; ``templates`` float32
    (n_units, L, C); ``spikes`` and ``units`` int64 (n_spikes,). A MUAP that
    would run past the end is cut there. The numba loop where numba is
    installed; else ``np.add.at`` over the spikes in the same order, which
    adds the same float32 terms to each sample in the same sequence, so the
    result is bit-identical.
    """
    if HAVE_NUMBA:
        _add_trains_loop(out, templates, spikes, units)
        return
    offsets = np.arange(templates.shape[1])
    for lo in range(0, spikes.shape[0], _ADD_AT_SPIKES):
        rows = spikes[lo:lo + _ADD_AT_SPIKES, None] + offsets[None, :]  # (n, L), spike-major like the loop
        keep = rows < out.shape[0]
        np.add.at(out, rows[keep], templates[units[lo:lo + _ADD_AT_SPIKES]][keep])
