"""Live preview of ``sense``: the annotated frames as MJPEG on a small local web page.

``GET /`` is an offline HTML page (no script, no CDN) showing ``GET /stream.mjpg``, a
``multipart/x-mixed-replace`` stream of JPEG frames drawn by
:class:`~edgesight.sensor.annotate.FrameAnnotator`, the same drawing as ``sense --annotate``.

The sensor never waits for a viewer: :meth:`PreviewServer.publish` only swaps in the newest frame
(frames a viewer has not fetched yet are dropped for it), and JPEG encoding happens in the
viewer's own server thread, once per frame however many viewers there are. The sensor asks
:attr:`PreviewServer.watched` first, so with no viewer nothing is drawn or encoded.

Frames are images and EdgeSight is private by construction: the server listens on the loopback
interface unless a non-loopback address is explicitly allowed (``--preview-allow-remote``).
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import cast

import cv2
import numpy as np
import numpy.typing as npt

from edgesight.core.errors import ConfigError
from edgesight.core.loopback import is_loopback

__all__ = ["PreviewAddress", "PreviewServer"]

log = logging.getLogger(__name__)

UInt8Image = npt.NDArray[np.uint8]

_BOUNDARY = "edgesight-frame"
_PAGE = b"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>EdgeSight preview</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>body{margin:0;background:#111;color:#ddd;font:14px sans-serif}
img{display:block;max-width:100%;margin:0 auto}p{text-align:center}</style></head>
<body><img src="/stream.mjpg" alt="annotated camera frames">
<p>EdgeSight sense: live preview, served from this machine only.</p></body></html>
"""


@dataclass(frozen=True)
class PreviewAddress:
    """Where the preview listens: ``host`` (default loopback) and ``port`` (0 picks a free one)."""

    host: str
    port: int

    @classmethod
    def parse(cls, text: str, *, allow_remote: bool = False) -> PreviewAddress:
        """``[HOST:]PORT``; a host that is not loopback needs ``allow_remote``.

        Example:
            >>> PreviewAddress.parse("8090")
            PreviewAddress(host='127.0.0.1', port=8090)
            >>> PreviewAddress.parse("[::1]:8090").host
            '::1'
        """
        host, _, port_text = text.rpartition(":")
        host = host.strip("[]") or "127.0.0.1"
        try:
            port = int(port_text)
        except ValueError:
            raise ConfigError(
                f"--preview must be [HOST:]PORT like 8090 or 127.0.0.1:8090, got {text!r}"
            ) from None
        if not 0 <= port <= 65535:
            raise ConfigError(f"--preview port must be in 0..65535, got {port}")
        if not allow_remote and not cls(host, port).loopback:
            raise ConfigError(
                f"--preview {text}: {host} is not a loopback address, so camera frames would be "
                "served beyond this machine; add --preview-allow-remote to allow it"
            )
        return cls(host, port)

    @property
    def loopback(self) -> bool:
        """Whether only this machine can connect."""
        return is_loopback(self.host)


class _HttpServer(ThreadingHTTPServer):
    daemon_threads = True  # a viewer stuck on a dead socket never holds the process open
    preview: PreviewServer


class _Handler(BaseHTTPRequestHandler):
    timeout = 10.0  # seconds a write to a stalled viewer may block its own thread (never the sensor)

    def do_GET(self) -> None:
        preview = cast(_HttpServer, self.server).preview
        if self.path in ("/", "/index.html"):
            self._send(HTTPStatus.OK, "text/html; charset=utf-8", _PAGE)
        elif self.path == "/stream.mjpg":
            preview.stream_to(self)
        else:
            self._send(
                HTTPStatus.NOT_FOUND, "text/plain; charset=utf-8", b"not found: try / or /stream.mjpg\n"
            )

    def _send(self, status: HTTPStatus, content_type: str, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        log.debug("preview %s: " + format, self.address_string(), *args)


class PreviewServer:
    """Serves the newest published frame as MJPEG until closed.

    Args:
        address: where to listen (see :class:`PreviewAddress`).
        jpeg_quality: 0..100, for ``cv2.imencode``.

    Example::

        with PreviewServer(PreviewAddress.parse("8090")) as preview:
            for image in frames:
                if preview.watched:
                    preview.publish(annotator.draw(image, tracked, counts))
    """

    def __init__(self, address: PreviewAddress, jpeg_quality: int = 80) -> None:
        self.jpeg_quality = jpeg_quality
        self._changed = threading.Condition()
        self._frame: UInt8Image | None = None
        self._seq = 0  # number of the newest frame; a viewer sends each number at most once
        self._jpeg: tuple[int, bytes] = (0, b"")  # newest encoding, shared by every viewer
        self._viewers = 0
        self._closed = False
        self.published = 0
        self.encoded = 0
        try:
            self._http = _HttpServer((address.host, address.port), _Handler)
        except OSError as exc:
            raise ConfigError(
                f"--preview: cannot listen on {address.host}:{address.port}: {exc.strerror}"
            ) from None
        self._http.preview = self
        host, port = str(self._http.server_address[0]), self._http.server_address[1]
        self.url = f"http://{f'[{host}]' if ':' in host else host}:{port}/"
        self._thread = threading.Thread(
            target=self._http.serve_forever, args=(0.1,), name="preview", daemon=True
        )
        self._thread.start()

    @property
    def watched(self) -> bool:
        """Whether a viewer is connected to the stream (draw and publish only then)."""
        return self._viewers > 0

    def publish(self, drawn_bgr: UInt8Image) -> None:
        """Make ``drawn_bgr`` the newest frame; returns at once (the array must not change afterwards)."""
        with self._changed:
            self._frame = drawn_bgr
            self._seq += 1
            self.published += 1
            self._changed.notify_all()

    def _next_jpeg(self, after: int) -> tuple[int, bytes] | None:
        """The newest frame newer than ``after`` as JPEG, waiting for one; None once closed."""
        with self._changed:
            self._changed.wait_for(lambda: self._closed or self._seq > after)
            if self._closed:
                return None
            seq, frame, cached = self._seq, self._frame, self._jpeg
        if cached[0] == seq:
            return cached
        assert frame is not None  # a positive seq was published with a frame
        ok, buffer = cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, self.jpeg_quality])
        if not ok:
            raise ValueError(f"preview: cv2 could not encode a {frame.shape} frame as JPEG")
        jpeg = buffer.tobytes()
        with self._changed:
            self.encoded += 1
            if seq > self._jpeg[0]:
                self._jpeg = (seq, jpeg)
        return seq, jpeg

    def stream_to(self, handler: BaseHTTPRequestHandler) -> None:
        """Write frames to one viewer as they come, until the viewer leaves or the server closes."""
        with self._changed:  # counted before the headers go out: a viewer that has them is watching
            self._viewers += 1
        try:
            handler.send_response(HTTPStatus.OK)
            handler.send_header("Content-Type", f"multipart/x-mixed-replace; boundary={_BOUNDARY}")
            handler.send_header("Cache-Control", "no-store")
            handler.end_headers()
            seq = 0
            while (item := self._next_jpeg(seq)) is not None:
                seq, jpeg = item
                head = f"--{_BOUNDARY}\r\nContent-Type: image/jpeg\r\nContent-Length: {len(jpeg)}\r\n\r\n"
                handler.wfile.write(head.encode() + jpeg + b"\r\n")
                handler.wfile.flush()
            handler.wfile.write(f"--{_BOUNDARY}--\r\n".encode())
        except (ConnectionError, TimeoutError) as exc:  # the viewer left or stalled: only it is affected
            log.debug("preview viewer %s gone: %s", handler.address_string(), exc)
        finally:
            with self._changed:
                self._viewers -= 1
                self._changed.notify_all()

    def close(self) -> None:
        """End every viewer's stream, then stop listening."""
        with self._changed:
            self._closed = True
            self._changed.notify_all()
            # Viewers write their closing boundary and leave; one stuck on a dead socket is not waited for.
            self._changed.wait_for(lambda: self._viewers == 0, timeout=2.0)
        self._http.shutdown()
        self._http.server_close()
        self._thread.join()

    def __enter__(self) -> PreviewServer:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
