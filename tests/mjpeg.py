"""Reading an MJPEG stream (``multipart/x-mixed-replace`` of JPEG parts) as a viewer would."""

from __future__ import annotations

from collections.abc import Iterator

import cv2
import httpx
import numpy as np
import numpy.typing as npt


def jpeg_frames(response: httpx.Response) -> Iterator[npt.NDArray[np.uint8]]:
    """Decode each JPEG part of a streaming response, until the closing boundary."""
    content_type = response.headers["content-type"]
    assert content_type.startswith("multipart/x-mixed-replace; boundary="), content_type
    boundary = b"--" + content_type.split("boundary=", 1)[1].encode()
    chunks = response.iter_bytes()
    buffer = b""
    while True:
        while b"\r\n\r\n" not in buffer and not buffer.startswith(boundary + b"--"):
            buffer += next(chunks)
        if buffer.startswith(boundary + b"--"):
            return
        head, _, buffer = buffer.partition(b"\r\n\r\n")
        lines = head.decode().split("\r\n")
        assert lines[0] == boundary.decode(), head
        fields = dict(line.lower().split(": ", 1) for line in lines[1:])
        assert fields["content-type"] == "image/jpeg", head
        size = int(fields["content-length"])
        while len(buffer) < size + 2:
            buffer += next(chunks)
        image = cv2.imdecode(np.frombuffer(buffer[:size], np.uint8), cv2.IMREAD_COLOR)
        assert image is not None, "a part is not a decodable JPEG"
        assert buffer[size : size + 2] == b"\r\n"
        buffer = buffer[size + 2 :]
        yield image
