"""Invisible watermark: kaokae's own keyed, tiled spread-spectrum mark in luma, carrying a 6-byte payload (tool id
and the first 40 bits of the model's sha256), meant to outlive the metadata when a video is re-uploaded.

Why not invisible-watermark (DWT-DCT, the scheme Stable Diffusion shipped)? It does not survive a JPEG, a resize,
a crop or H.264 (docs/benchmarks.md, "Provenance"): its decoder reads fixed blocks from the top-left corner, so any
resize or crop misaligns every block, and it has no error correction. This design keeps what survives codecs and adds what it lacks, synchronisation:

- Embedding. The picture is cut into cells (short side / 128, at least 4 px: H.264 keeps about 70% of a 4-px cell
  at CRF 23 and 45% of a 2-px one). A 32 x 32-cell tile repeats over the picture: 256 of its cells hold a fixed
  keyed pattern (sync), the other 768 the 210 bits of payload + CRC-16 under a rate-1/3 convolutional code, each bit
  on 3-4 cells per tile, spread by a keyed +-1 sequence. Cells are blended bilinearly and added to luma (R, G and B
  move together). The strength follows the picture: 1.25 levels where it is flat (skin, walls: where a mark would
  show) up to 4 in texture, with the rms capped so that PSNR stays >= 40 dB.
- Detection. Luma resampled to about 2 px per cell, high-passed and locally normalised (flat areas, where the mark
  is strongest next to the picture, count as much as busy ones). The tile period is read from the autocorrelation
  (a crop or a resize changes it; all its multiples line up), the whole picture is folded into one tile (the
  spreading gain), an FFT correlation with the sync pattern gives the offset to a fraction of a cell, and the soft
  bits go through a Viterbi decoder. A payload counts when its CRC-16 matches and the sync peak stands >= 5 standard
  deviations out. Video frames add their residuals before anything is decided, so each votes with all its evidence.
- False alarms: about (period pairs tried, <= 24) x P(z >= 5) x 2^-16, below 1e-6 per picture; no real photo or
  video in the shared data (130 photos, 26 videos) gives one.

Small pictures carry fewer cells, so a 256 x 256 clip survives re-encoding only as a video (the attack table per
picture size: docs/benchmarks.md, "Provenance").
"""

import hashlib
import math
from collections.abc import Iterable
from dataclasses import dataclass, field

import cv2
import numpy as np
import scipy.sparse

from kaokae.provenance import ecc

KEY = b"kaokae-watermark-v1"  # seeds the layout: another key gives a mark this detector cannot see
PAYLOAD_BYTES = 6
TILE = 32  # cells per side of the repeating tile
CELLS_PER_SHORT_SIDE = 128  # cells follow the picture's size, so a resized copy looks the same to the detector
MIN_CELL_PX = 4.0  # ...but never smaller than this: H.264 keeps ~70% of a 4-px cell at CRF 23, ~45% of a 2-px one
SYNC_CELLS = 256  # cells of each tile with a fixed pattern, to find the tile grid again after a crop or resize
N_BITS = PAYLOAD_BYTES * 8 + 16  # payload + CRC-16
N_CODED = ecc.coded_length(N_BITS)
BINS = 2 * TILE  # the detector folds the picture into a tile at two bins per cell
MIN_SYNC_Z = 5.0  # a decoded payload counts only when the grid match is this strong (CRC-16 does the rest)

# Strength (peak change of 8-bit luma) follows the picture: low where it is flat (skin, sky, walls: where a mark
# would show), high where texture hides it; in between it ramps with the local detail at the cell scale.
FLAT_STRENGTH = 1.25
TEXTURE_STRENGTH = 4.0
FLAT_DETAIL, TEXTURE_DETAIL = 1.5, 8.0  # local rms (levels) of the picture's detail at the cell scale
MAX_RMS = 2.4  # cap on the change's rms: PSNR stays above 40 dB (20 log10(255 / 2.4) = 40.5 before rounding)


def _layout():
    seed = int.from_bytes(hashlib.sha256(KEY).digest()[:8], "big")
    rng = np.random.default_rng(seed)
    chips = rng.choice(np.array([-1.0, 1.0], dtype=np.float32), size=(TILE, TILE))
    order = rng.permutation(TILE * TILE)
    sync = np.zeros(TILE * TILE, dtype=bool)
    sync[order[:SYNC_CELLS]] = True
    bit_of_cell = np.full(TILE * TILE, -1, dtype=np.int64)
    bit_of_cell[order[SYNC_CELLS:]] = np.arange(TILE * TILE - SYNC_CELLS) % N_CODED
    return chips, sync.reshape(TILE, TILE), bit_of_cell.reshape(TILE, TILE)


# chips: the keyed +-1 spreading sequence; sync: which cells carry the fixed pattern; bit_of_cell: which coded
# bit each other cell carries (every coded bit gets 3-4 cells of each tile, spread over the tile)
CHIPS, SYNC, BIT_OF_CELL = _layout()


def tile_pattern(payload: bytes) -> np.ndarray:
    """The TILE x TILE pattern of +-1 cells for a payload: sync cells fixed, the others carry coded bits."""
    coded = ecc.conv_encode(ecc.add_crc(payload)).astype(np.float32) * 2 - 1
    return CHIPS * np.where(SYNC, 1.0, coded[np.maximum(BIT_OF_CELL, 0)])


def cell_size(height: int, width: int) -> float:
    return max(MIN_CELL_PX, min(height, width) / CELLS_PER_SHORT_SIDE)


class Watermarker:
    """Adds one payload to frames of any size (the tiled pattern is cached per frame size)."""

    def __init__(self, payload: bytes):
        if len(payload) != PAYLOAD_BYTES:
            raise ValueError(f"watermark payload must be {PAYLOAD_BYTES} bytes, got {len(payload)}")
        self.payload = payload
        self.tile = tile_pattern(payload)
        self._size: tuple[int, int] | None = None
        self._cells = np.zeros((0, 0), np.float32)  # the tile repeated over the cell grid of that size

    def _grid(self, height: int, width: int) -> np.ndarray:
        if self._size != (height, width):
            cell = cell_size(height, width)
            h, w = max(1, round(height / cell)), max(1, round(width / cell))
            self._cells = np.tile(self.tile, (math.ceil(h / TILE), math.ceil(w / TILE)))[:h, :w]
            self._size = (height, width)
        return self._cells

    def strength(self, rgb: np.ndarray, grid_height: int, grid_width: int) -> np.ndarray:
        """Peak luma change for each cell, from how much fine detail the picture has around it."""
        # a few samples per cell are enough to tell flat from busy (and 30x cheaper than averaging every pixel)
        small = cv2.resize(rgb, (grid_width, grid_height), interpolation=cv2.INTER_LINEAR)
        luma = cv2.cvtColor(small, cv2.COLOR_RGB2GRAY).astype(np.float32)
        detail = luma - cv2.GaussianBlur(luma, (0, 0), 1.0)
        detail = np.sqrt(cv2.GaussianBlur(detail * detail, (0, 0), 1.5))
        ramp = np.clip((detail - FLAT_DETAIL) / (TEXTURE_DETAIL - FLAT_DETAIL), 0.0, 1.0)
        return FLAT_STRENGTH + (TEXTURE_STRENGTH - FLAT_STRENGTH) * ramp

    def embed(self, rgb: np.ndarray) -> np.ndarray:
        """(H, W, 3) uint8 RGB -> a new array with the mark added to luma (the same change on R, G and B)."""
        height, width = rgb.shape[:2]
        cells = self._grid(height, width)
        delta = cv2.resize(cells * self.strength(rgb, *cells.shape), (width, height),
                           interpolation=cv2.INTER_LINEAR)  # bilinear: no hard cell edges
        rms = cv2.norm(delta, cv2.NORM_L2) / math.sqrt(delta.size)
        if rms > MAX_RMS:
            delta *= MAX_RMS / rms
        # saturating uint8 arithmetic on the rounded positive and negative parts: no full-size float copies
        up, down = cv2.convertScaleAbs(cv2.max(delta, 0.0)), cv2.convertScaleAbs(cv2.min(delta, 0.0))
        return cv2.subtract(cv2.add(rgb, cv2.merge([up, up, up])), cv2.merge([down, down, down]))


# ---------------------------------------------------------------- detection

HIGHPASS_SIGMA = 1.0  # px on a grid where a cell is 2 px: keeps the mark's band, drops most of the picture
NORM_SIGMA = 2.0
MIN_SIDE = 64


def _luma(rgb: np.ndarray) -> np.ndarray:
    if rgb.ndim == 2:
        return rgb.astype(np.float32)
    return cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2GRAY).astype(np.float32)


def residual(luma: np.ndarray, scale: float) -> np.ndarray:
    """Luma resampled by `scale`, high-passed and locally normalised so that edges and texture weigh no more than
    flat areas, where the mark stands out most."""
    h, w = max(1, round(luma.shape[0] * scale)), max(1, round(luma.shape[1] * scale))
    y = cv2.resize(luma, (w, h), interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
    r = y - cv2.GaussianBlur(y, (0, 0), HIGHPASS_SIGMA)
    r /= np.sqrt(cv2.GaussianBlur(r * r, (0, 0), NORM_SIGMA)) + 0.5
    return r


def _parabolic(minus: float, centre: float, plus: float) -> float:
    """Offset of a peak's summit from its centre sample, from the two neighbours."""
    curvature = minus - 2 * centre + plus
    return float(np.clip(0.5 * (minus - plus) / curvature, -0.5, 0.5)) if curvature < 0 else 0.0


def _refine_period(profile: np.ndarray, lag: int) -> float:
    """Sub-pixel period from the peaks at all its multiples up to half the profile (a parabola through each,
    then least squares), which pins it down far better than the first peak alone."""
    estimate, num, den, m = float(lag), 0.0, 0.0, 1
    while m * estimate < len(profile) / 2 + 1:
        k = round(m * estimate)
        k = max((k - 1, k, k + 1), key=lambda i: profile[i % len(profile)])
        num += m * (k + _parabolic(profile[k - 1], profile[k], profile[(k + 1) % len(profile)]))
        den += m * m
        estimate = num / den
        m += 1
    return estimate


def _harmonic_score(prominence: np.ndarray, lag: int) -> float:
    """Evidence that `lag` is the tile period: the prominence of the autocorrelation at each of its multiples,
    summed and divided by sqrt(count). Noise scores the same at any lag, while a true period outscores its own
    multiples (they have half as many multiples)."""
    n = len(prominence)
    values = [prominence[round(m * lag) - 1: round(m * lag) + 2].max() for m in range(1, int((n // 2) / lag) + 1)]
    return float(np.sum(values) / np.sqrt(len(values)))


def candidate_periods(r: np.ndarray, nominal: float, count: int = 3) -> tuple[list[float], list[float]]:
    """Likely tile periods along y and x: the nominal one (the size the mark was made for) first, then the
    lags whose multiples all stand out in the residual's autocorrelation (after a crop or a resize)."""
    auto = np.fft.irfft2(np.abs(np.fft.rfft2(r)) ** 2, s=r.shape)
    result = []
    for profile in (auto[:, 0], auto[0, :]):
        n = len(profile)  # circular: lag k and n - k are the same, so look up to n / 2
        lags = np.minimum(np.arange(n), n - np.arange(n))
        profile = profile / profile[0] / np.maximum(1 - lags / n, 0.5)  # pairs that wrap around do not match
        prominence = profile - (np.roll(profile, 2) + np.roll(profile, -2)) / 2
        lo = max(8, int(0.4 * nominal))
        peaks = [k for k in range(lo, n // 2 + 1) if profile[k] > profile[k - 1] and profile[k] >= profile[(k + 1) % n]]
        peaks.sort(key=lambda k: _harmonic_score(prominence, k), reverse=True)
        periods = [nominal]
        for k in peaks[:count]:
            period = _refine_period(profile, k)
            if all(abs(period - p) > 0.5 for p in periods):
                periods.append(period)
        result.append(periods)
    return result[0], result[1]


def _splat_matrix(n: int, period: float) -> scipy.sparse.csr_matrix:
    """(n, BINS) sparse matrix that adds each of n samples into the two nearest bins of a fold with this period."""
    u = (np.arange(n) + 0.5) * (BINS / period) - 0.5
    low = np.floor(u).astype(np.int64)
    frac = (u - low).astype(np.float32)
    rows = np.arange(n)
    return scipy.sparse.csr_matrix((np.concatenate([1 - frac, frac]), (np.concatenate([rows, rows]),
                                   np.concatenate([low % BINS, (low + 1) % BINS]))), shape=(n, BINS))


def fold(r: np.ndarray, period_y: float, period_x: float) -> np.ndarray:
    """Add up every period of the residual into one BINS x BINS tile (bilinear, so periods may be fractional)."""
    rows = _splat_matrix(r.shape[0], period_y).T @ r  # (BINS, width)
    return (_splat_matrix(r.shape[1], period_x).T @ rows.T).T


def _up2(a: np.ndarray) -> np.ndarray:
    """Periodic 2x bilinear upsampling of a cell tile: how the embedded pattern looks at two bins per cell."""
    for axis in (0, 1):
        even = 0.75 * a + 0.25 * np.roll(a, 1, axis)
        odd = 0.75 * a + 0.25 * np.roll(a, -1, axis)
        a = np.stack([even, odd], axis=axis + 1).reshape([n * 2 if i == axis else n for i, n in enumerate(a.shape)])
    return a


def _down2(f: np.ndarray) -> np.ndarray:
    """The adjoint of _up2: two bins per cell -> one value per cell."""
    for axis in (0, 1):
        even = np.take(f, np.arange(0, f.shape[axis], 2), axis)
        odd = np.take(f, np.arange(1, f.shape[axis], 2), axis)
        f = 0.75 * (even + odd) + 0.25 * (np.roll(odd, 1, axis) + np.roll(even, -1, axis))
    return f


SYNC_TEMPLATE_SPECTRUM = np.conj(np.fft.fft2(_up2(np.where(SYNC, CHIPS, 0.0).astype(np.float32))))


def _align(folded: np.ndarray) -> tuple[np.ndarray, float]:
    """Find the tile grid in a fold with the sync template. Returns the fold shifted onto the grid (sub-bin, by
    a phase shift) and the match's z-score: how many standard deviations the best shift stands above the rest."""
    spectrum = np.fft.fft2(folded)
    corr = np.real(np.fft.ifft2(spectrum * SYNC_TEMPLATE_SPECTRUM))
    dy, dx = np.unravel_index(np.argmax(corr), corr.shape)
    z = float((corr[dy, dx] - corr.mean()) / (corr.std() + 1e-12))
    sy = dy + _parabolic(corr[dy - 1, dx], corr[dy, dx], corr[(dy + 1) % BINS, dx])
    sx = dx + _parabolic(corr[dy, dx - 1], corr[dy, dx], corr[dy, (dx + 1) % BINS])
    freq = np.fft.fftfreq(BINS)
    phase = np.exp(2j * np.pi * (freq[:, None] * sy + freq[None, :] * sx))
    return np.real(np.fft.ifft2(spectrum * phase)).astype(np.float32), z


@dataclass
class WatermarkResult:
    found: bool  # the check bits match and the tile grid stands out: a kaokae mark
    payload: bytes | None  # the decoded payload when its check bits match, else None
    sync_z: float  # strength of the tile-grid match; unmarked pictures give 3.5-5
    bit_agreement: float  # share of coded bits that agree with the decoded codeword (raw bit accuracy)
    confidence: float = 0.0  # 1 - the chance that an unmarked picture gives a match this good (0 when not found)
    frames: int = 1
    bits: np.ndarray | None = field(default=None, repr=False)  # decoded payload + CRC bits, even when wrong
    coded: np.ndarray | None = field(default=None, repr=False)  # hard decisions on the coded bits


def _false_alarm(z: float, tries: int) -> float:
    """Chance that noise gives a sync peak of z somewhere (Gaussian tail over every shift of every try) and
    that its decoded bits then pass the CRC-16 by luck."""
    return min(1.0, tries * BINS * BINS * 0.5 * math.erfc(z / math.sqrt(2))) * 2.0 ** -16


def _decode(aligned: np.ndarray, z: float, tries: int, frames: int) -> WatermarkResult:
    cells = _down2(aligned) * CHIPS
    carrying = BIT_OF_CELL >= 0
    soft = np.bincount(BIT_OF_CELL[carrying], weights=cells[carrying], minlength=N_CODED)
    bits = ecc.viterbi_decode(soft, N_BITS)
    agreement = float(np.mean((soft > 0) == (ecc.conv_encode(bits) == 1)))
    payload = ecc.check_crc(bits)
    found = payload is not None and z >= MIN_SYNC_Z
    confidence = 1.0 - _false_alarm(z, tries) if found else 0.0
    return WatermarkResult(found, payload, z, agreement, confidence, frames, bits, (soft > 0).astype(np.uint8))


def detect_watermark(frames: np.ndarray | Iterable[np.ndarray]) -> WatermarkResult:
    """Look for the mark in one RGB image or in several frames of one video. The frames' residuals are added up
    before anything is decided, so every frame votes with all its evidence."""
    lumas = [_luma(f) for f in ([frames] if isinstance(frames, np.ndarray) else frames)]
    if not lumas:
        raise ValueError("no frames to look for a watermark in")
    lumas = [y for y in lumas if y.shape == lumas[0].shape]  # one video has one size
    height, width = lumas[0].shape
    if min(height, width) < MIN_SIDE:
        return WatermarkResult(False, None, 0.0, 0.5, frames=len(lumas))

    # A grid where the cells of an unresized mark are about 2 px (never upsampled: a shrunk copy has smaller cells).
    scale = min(1.0, 2 * CELLS_PER_SHORT_SIDE / min(height, width))
    r = residual(lumas[0], scale)
    for y in lumas[1:]:
        r += residual(y, scale)
    if not np.any(r):  # a flat picture carries no mark
        return WatermarkResult(False, None, 0.0, 0.5, frames=len(lumas))
    periods_y, periods_x = candidate_periods(r, TILE * cell_size(height, width) * scale)

    # Each axis's candidates, and every candidate on both axes (a crop or resize keeps the tile square, so a
    # period found clearly on one axis serves the other, whose picture may have a rhythm of its own).
    pairs = [(py, px) for py in periods_y for px in periods_x]
    pairs += [(p, p) for p in periods_y + periods_x if (p, p) not in pairs]
    ranked = sorted((_align(fold(r, py, px)) for py, px in pairs), key=lambda a: a[1], reverse=True)
    for aligned, z in ranked:  # decode every grid match strong enough to count, strongest first
        if z < MIN_SYNC_Z:
            break
        result = _decode(aligned, z, len(pairs), len(lumas))
        if result.found:
            return result
    return _decode(*ranked[0], len(pairs), len(lumas))  # not found: the strongest match, for its numbers
