"""`edgesight inspect` as a line engineer meets it: train, run, eval on texture parts; one-line errors."""

from __future__ import annotations

import json
import os
import socket
import stat
import subprocess
import sys
import time
import urllib.error
import urllib.request
import zipfile
from pathlib import Path

import cv2
import pytest

from edgesight.core.signing import write_keypair
from inspection_set import make_parts

EDGESIGHT = [sys.executable, "-c", "from edgesight.cli import main; main()"]


def inspect(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*EDGESIGHT, "inspect", *map(str, args)], capture_output=True, text=True, timeout=300,
        env={**os.environ, "COLUMNS": "200"},
    )  # fmt: skip


def one_line_error(result: subprocess.CompletedProcess[str]) -> str:
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.returncode == 2, result.stderr
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    return lines[0]


@pytest.fixture(scope="module")
def line(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Good parts to train on, held-out good and defective parts with masks, and a trained product."""
    root = tmp_path_factory.mktemp("line") / "grass"
    goods, defects = make_parts("grass", 12, 4, seed=11)
    for name in ("train/good", "test/good", "test/defect", "masks"):
        (root / name).mkdir(parents=True)
    for i, part in enumerate(goods):
        cv2.imwrite(str(root / ("train/good" if i < 8 else "test/good") / f"{i:03d}.png"), part.image)
    for i, part in enumerate(defects):
        cv2.imwrite(str(root / "test/defect" / f"d{i}.png"), part.image)
        assert part.mask is not None
        cv2.imwrite(str(root / "masks" / f"d{i}_mask.png"), part.mask)
    write_keypair(root / "vendor.key")
    result = inspect("train", "--good", root / "train/good", "--products", root / "products", "--key", root / "vendor.key")
    assert result.returncode == 0, result.stderr
    assert "grass" in result.stdout and "256x256" in result.stdout and "6 + 2" in result.stdout
    assert "grass.esinsp: signed with key" in result.stdout
    return root


def trusting(line: Path) -> tuple[str | Path, ...]:
    return ("--products", line / "products", "--trusted-key", line / "vendor.key.pub")


def test_run_writes_inspection_events_and_a_summary(line: Path) -> None:
    events = line / "events.jsonl"
    feedback = line / "feedback.csv"
    feedback.write_text("d0.png,good\n")  # the line found d0 good: a false reject
    result = inspect(
        "run", "--source", line / "test/defect", "--product", "grass", *trusting(line),
        "--events", events, "--threshold", "0", "--heatmaps", line / "heat", "--allow-images",
        "--feedback", feedback,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    records = [json.loads(x) for x in events.read_text().splitlines()]
    assert [r["properties"]["part_id"] for r in records] == [*(f"d{i}.png" for i in range(4)), "d0.png"]
    assert all(r["type"] == "inspection" and r["properties"]["passed"] is False for r in records)
    assert [r["properties"].get("finding") for r in records] == [None] * 4 + ["good"]  # the line's finding
    assert len({r["id"] for r in records}) == 5
    assert sorted(p.name for p in (line / "heat").iterdir()) == [f"d{i}.png" for i in range(4)]
    assert "REJECT" in result.stdout and "yield" in result.stdout and "0.0%" in result.stdout

    summary = inspect("summary", events)
    assert summary.returncode == 0, summary.stderr
    row = next(line for line in summary.stdout.splitlines() if "grass" in line)
    cells = [cell.strip() for cell in row.split("│")]
    assert cells[1:8] == ["grass", "4", "0", "4", "0.0%", "1", "0"]  # inspected, passed, rejected, yield, fr, esc


def test_eval_prints_aurocs_pro_and_confusion(line: Path) -> None:
    result = inspect(
        "eval", "--good", line / "test/good", "--defect", line / "test/defect", "--masks", line / "masks",
        "--product", "grass", *trusting(line),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    for text in ("image AUROC", "pixel AUROC", "PRO", "4 + 4", "false rejects", "escapes"):
        assert text in result.stdout


def test_heatmaps_need_the_image_policy(line: Path) -> None:
    result = inspect(
        "run", "--source", line / "test/good", "--product", "grass", "--products", line / "products",
        "--heatmaps", line / "heat2",
    )  # fmt: skip
    assert "--allow-images" in one_line_error(result)
    assert not (line / "heat2").exists()


def test_bad_input_gives_one_clear_error_each(line: Path, tmp_path: Path) -> None:
    products = line / "products"
    unknown = inspect("run", "--source", line / "test/good", "--product", "bracket", "--products", products)
    assert "unknown product 'bracket'" in one_line_error(unknown) and "grass" in unknown.stderr

    empty = tmp_path / "empty"
    empty.mkdir()
    assert "holds no part images" in one_line_error(inspect("train", "--good", empty, "--products", products))

    small = tmp_path / "small"
    small.mkdir()
    for path in sorted((line / "train/good").iterdir())[:3]:
        (small / path.name).write_bytes(path.read_bytes())
    too_small = inspect("train", "--good", small, "--products", products)
    assert "the good set has 3 parts; training needs at least 5" in one_line_error(too_small)

    (small / "broken.png").write_bytes(b"\x89PNG truncated")
    assert "broken.png: not a readable image" in one_line_error(inspect("train", "--good", small, "--products", products))

    (small / "broken.png").unlink()
    image = cv2.imread(str(next(small.iterdir())))
    cv2.imwrite(str(small / "wide.png"), cv2.resize(image, (320, 256)))
    mixed = inspect("train", "--good", small, "--products", products)
    assert "wide.png: 320x256 differs from" in one_line_error(mixed)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_run_with_an_http_trigger_answers_the_line_by_part_id(line: Path, tmp_path: Path) -> None:
    # Listening beyond loopback, as on a line's network: only requests with the token are served.
    port = _free_port()
    token = "line-7-" + "k3y" * 8
    (tmp_path / "trigger.token").write_text(token + "\n")
    events = line / "triggered.jsonl"
    server = subprocess.Popen(
        [*EDGESIGHT, "inspect", "run", "--source", str(line / "test"), "--product", "grass",
         *map(str, trusting(line)), "--trigger", "http", "--listen", f"0.0.0.0:{port}",
         "--token-file", str(tmp_path / "trigger.token"), "--max-parts", "2", "--events", str(events)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env={**os.environ, "COLUMNS": "200"},
    )  # fmt: skip
    answers = []
    url = f"http://127.0.0.1:{port}/parts"
    try:
        stranger = _post_when_up(url, b'{"part_id": "X-1", "image": "defect/d0.png"}', token=None)
        wrong = _post_when_up(url, b'{"part_id": "X-2", "image": "defect/d0.png"}', token=token[:-1] + "!")
        for part_id, image in (("L-1", "defect/d0.png"), ("L-2", "good/010.png")):
            body = json.dumps({"part_id": part_id, "image": image}).encode()
            answers.append(_post_when_up(url, body, token=token))
        out, err = server.communicate(timeout=60)
    finally:
        server.kill()
    assert server.returncode == 0, err
    assert stranger == wrong == (401, {"error": "missing or wrong bearer token"})
    assert [(a[0], a[1]["part_id"], a[1]["passed"]) for a in answers] == [(200, "L-1", False), (200, "L-2", True)]
    records = [json.loads(x) for x in events.read_text().splitlines()]
    assert [r["properties"]["part_id"] for r in records] == ["L-1", "L-2"]
    assert f"POST part ids to http://0.0.0.0:{port}/parts" in out
    assert "L-1" in out and "REJECT" in out and "50.0%" in out


def test_an_http_trigger_beyond_loopback_needs_a_token(line: Path, tmp_path: Path) -> None:
    common = ["run", "--source", line / "test", "--product", "grass", *trusting(line), "--trigger", "http"]
    open_to_all = one_line_error(inspect(*common, "--listen", "0.0.0.0:8090"))
    assert "--listen 0.0.0.0:8090: 0.0.0.0 is reachable from other machines" in open_to_all
    assert "--token-file" in open_to_all
    (tmp_path / "short.token").write_text("secret\n")
    short = one_line_error(inspect(*common, "--listen", "0.0.0.0:8090", "--token-file", tmp_path / "short.token"))
    assert "the token must be at least 16 printable characters without spaces, got 6 characters" in short
    mqtt = one_line_error(inspect(*common[:-1], "mqtt", "--mqtt", "127.0.0.1:1883", "--token-file", tmp_path / "short.token"))
    assert "--token-file is for --trigger http" in mqtt



def test_opcua_beyond_loopback_needs_a_certificate_which_opcua_cert_makes(line: Path, tmp_path: Path) -> None:
    common = ["run", "--source", line / "test/defect", "--product", "grass", *trusting(line)]
    everywhere = f"opc.tcp://0.0.0.0:{_free_port()}/edgesight/"
    open_to_all = one_line_error(inspect(*common, "--opcua", everywhere))
    assert f"--opcua {everywhere}: 0.0.0.0 is reachable from other machines" in open_to_all
    assert "give --opcua-cert and --opcua-key" in open_to_all and "--opcua-allow-insecure" in open_to_all
    made = inspect("opcua-cert", "--cert", tmp_path / "cam.pem", "--key", tmp_path / "cam.key", "--host", "cam-7")
    assert made.returncode == 0, made.stderr
    assert "application URI urn:cam-7:edgesight:inspection, hosts cam-7" in made.stdout
    assert stat.S_IMODE((tmp_path / "cam.key").stat().st_mode) == 0o600
    again = inspect("opcua-cert", "--cert", tmp_path / "cam.pem", "--key", tmp_path / "other.key")
    assert "cam.pem already exists; refusing to overwrite it" in one_line_error(again)
    half = inspect(*common, "--opcua", everywhere, "--opcua-cert", tmp_path / "cam.pem")
    assert "--opcua-cert and --opcua-key go together: give both" in one_line_error(half)
    stray = inspect(*common, "--opcua-allow-insecure")
    assert "--opcua-cert, --opcua-key, --opcua-trust and --opcua-allow-insecure are for --opcua" in one_line_error(stray)
    untrusting = inspect(*common, "--opcua", everywhere, "--opcua-allow-insecure", "--opcua-trust", tmp_path / "cam.pem")
    assert "--opcua-trust needs --opcua-cert and --opcua-key" in one_line_error(untrusting)
    keyless = inspect(*common, "--opcua", everywhere, "--opcua-cert", tmp_path / "cam.pem", "--opcua-key", tmp_path / "k")
    assert f"OPC UA private key {tmp_path / 'k'}: cannot read it (No such file or directory)" in one_line_error(keyless)
    secured = inspect(
        *common, "--opcua", everywhere, "--opcua-cert", tmp_path / "cam.pem", "--opcua-key", tmp_path / "cam.key",
        "--opcua-trust", tmp_path / "cam.pem", "--events", tmp_path / "secured.jsonl",
    )  # fmt: skip
    assert secured.returncode == 0, secured.stderr
    assert (f"OPC UA verdict nodes at {everywhere} (Basic256Sha256 Sign and SignAndEncrypt only, "
            "1 trusted client certificate(s))") in secured.stdout  # fmt: skip
    isolated = inspect(*common, "--opcua", everywhere, "--opcua-allow-insecure", "--events", tmp_path / "open.jsonl")
    assert isolated.returncode == 0, isolated.stderr
    assert f"OPC UA verdict nodes at {everywhere} (NoSecurity)" in isolated.stdout


def _post_when_up(url: str, body: bytes, token: str | None) -> tuple[int, dict[str, object]]:
    deadline = time.monotonic() + 120  # the server loads the product first
    headers = {} if token is None else {"Authorization": f"Bearer {token}"}
    while True:
        try:
            request = urllib.request.Request(url, data=body, method="POST", headers=headers)
            with urllib.request.urlopen(request, timeout=60) as r:
                return r.status, dict(json.loads(r.read()))
        except urllib.error.HTTPError as exc:
            return exc.code, dict(json.loads(exc.read()))
        except urllib.error.URLError as exc:
            if not isinstance(exc.reason, ConnectionRefusedError) or time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def test_products_are_signed_and_unsigned_ones_refused_naming_the_check(line: Path, tmp_path: Path) -> None:
    products, bare = tmp_path / "products", tmp_path / "bare"
    products.mkdir()
    bare.mkdir()
    with zipfile.ZipFile(line / "products/grass.esinsp") as src, zipfile.ZipFile(bare / "grass.esinsp", "w") as dst:
        for name in src.namelist():
            if name != "manifest.sig":
                dst.writestr(name, src.read(name))
    (products / "grass.esinsp").write_bytes((bare / "grass.esinsp").read_bytes())
    write_keypair(tmp_path / "line.key")
    signed = inspect("sign", "--product", "grass", "--products", products, "--key", tmp_path / "line.key")
    assert signed.returncode == 0 and "signed" in signed.stdout, signed.stderr
    ok = inspect("verify", "--product", "grass", "--products", products, "--trusted-key", tmp_path / "line.key.pub")
    assert ok.returncode == 0, ok.stderr
    assert "ok grass@" in ok.stdout and "signed by trusted key" in ok.stdout
    # The line ran a later training before: this one is refused as a downgrade (train's versions are
    # PEP 440, the UTC training time), naming the check and the file that keeps the versions.
    accepted = tmp_path / "accepted.json"
    accepted.write_text('{"grass": "9999.1231.235959"}')
    older = inspect("run", "--source", line / "test/good", "--product", "grass", "--products", products,
                    "--trusted-key", tmp_path / "line.key.pub", "--accepted-versions", accepted)  # fmt: skip
    assert older.returncode != 0 and "refused (downgrade): grass version 20" in older.stderr, older.stderr
    assert "is older than version 9999.1231.235959" in older.stderr and str(accepted) in older.stderr

    refused = inspect("run", "--source", line / "test/good", "--product", "grass", "--products", bare)
    assert refused.returncode != 0 and "refused (unsigned): the product has no signature" in refused.stderr
    assert "edgesight inspect sign" in refused.stderr
