"""Videos of evaluation episodes: ``worldflux eval --video out.mp4`` (or ``.gif``).

Frames stream into a temp file beside the target, which is renamed into place when the last frame is written
(``fileio.atomic_path``): the video appears whole or not at all. MP4 is H.264 through imageio-ffmpeg (its
wheel ships the ffmpeg binary), GIF through imageio's Pillow plugin; both are in the ``envs`` extra. Frames
of odd width or height are padded by one black row or column (H.264 needs even sides).
"""

from __future__ import annotations

import importlib.util
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import numpy as np

from worldflux_cli.errors import WorldfluxError
from worldflux_cli.fileio import atomic_path

#: suffix -> the modules its writer needs.
NEEDS = {".mp4": ("imageio", "imageio_ffmpeg"), ".gif": ("imageio", "PIL")}
PACKAGES = {"imageio": "imageio", "imageio_ffmpeg": "imageio-ffmpeg", "PIL": "pillow"}
INSTALL_HINT = 'pip install "worldflux[envs]" (it pins imageio, imageio-ffmpeg and pillow)'


def check_video_path(path: Path) -> None:
    """WorldfluxError (exit code 2) for a suffix other than .mp4 / .gif, or when its writer is not installed."""
    suffix = path.suffix.lower()
    if suffix not in NEEDS:
        raise WorldfluxError(f"--video {path}: a video is written as .mp4 or .gif, not {suffix or 'no suffix'!r}",
                             f"name it {path.with_suffix('.mp4').name}")
    missing = [PACKAGES[m] for m in NEEDS[suffix] if importlib.util.find_spec(m) is None]
    if missing:
        raise WorldfluxError(f"--video {path}: writing {suffix} needs {' and '.join(missing)}, which "
                             f"{'is' if len(missing) == 1 else 'are'} not installed", INSTALL_HINT)


def even(frame: np.ndarray) -> np.ndarray:
    """``frame`` (H, W, 3) padded with black to even H and W."""
    h, w = frame.shape[:2]
    if h % 2 == 0 and w % 2 == 0:
        return frame
    return np.pad(frame, ((0, h % 2), (0, w % 2), (0, 0)))


class VideoWriter(AbstractContextManager):
    """``with VideoWriter(path, fps) as video: video(frame)``; the file is in place when the block ends."""

    def __init__(self, path: Path, fps: float):
        check_video_path(path)
        self.path, self.fps, self.frames = Path(path), float(fps), 0
        self._target: Any = None
        self._writer: Any = None

    def __enter__(self) -> VideoWriter:
        self._target = atomic_path(self.path, suffix=self.path.suffix.lower())
        tmp = self._target.__enter__()
        import imageio.v2 as imageio

        try:
            if self.path.suffix.lower() == ".mp4":
                self._writer = imageio.get_writer(tmp, format="FFMPEG", fps=self.fps, codec="libx264",
                                                  macro_block_size=1, ffmpeg_log_level="error")
            else:  # GIF frame times are in milliseconds (kept in units of 10 ms)
                self._writer = imageio.get_writer(tmp, format="GIF", mode="I", duration=1000.0 / self.fps, loop=0)
        except BaseException as exc:
            self._target.__exit__(type(exc), exc, exc.__traceback__)
            raise
        return self

    def __call__(self, frame: np.ndarray) -> None:
        self._writer.append_data(even(np.asarray(frame, dtype=np.uint8)))
        self.frames += 1

    def __exit__(self, *exc: Any) -> bool | None:
        try:
            self._writer.close()
        except Exception as error:
            if exc[0] is None:
                self._target.__exit__(type(error), error, error.__traceback__)
                raise WorldfluxError(f"--video {self.path}: the video could not be written: {error}",
                                     "check the folder is writable and has room") from None
        if exc[0] is None and self.frames == 0:
            empty = WorldfluxError(f"--video {self.path}: no frames were recorded", "run at least one episode")
            self._target.__exit__(WorldfluxError, empty, None)
            raise empty
        return self._target.__exit__(*exc)
