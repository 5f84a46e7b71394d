"""Encode and decode over a Ray Dataset on a local Ray cluster (the optional ray extra)."""

import numpy as np
import pytest
from PIL import Image

ray = pytest.importorskip("ray", reason="the ray extra is not installed")

import sdcodec  # noqa: E402
from sdcodec import distributed  # noqa: E402


@pytest.fixture(scope="module")
def local_ray():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


def test_encode_folder_and_decode_dataset(local_ray, tmp_path, crop):
    src = tmp_path / "in"
    src.mkdir()
    for i in range(3):
        crop.rotate(90 * i).resize((64, 48)).save(src / f"p{i}.png")
    (src / "bad.png").write_bytes(b"not a png")
    written, errors = distributed.encode_folder(
        str(src), str(tmp_path / "out"), sdcodec.EncodeOptions(palette_size=8)
    )
    assert written == 3 and len(errors) == 1 and "bad.png" in errors[0]
    files = sorted((tmp_path / "out").glob("*.sdc"))
    assert [f.name for f in files] == ["p0.sdc", "p1.sdc", "p2.sdc"]
    ds = ray.data.read_binary_files([str(f) for f in files], include_paths=True)
    rows = list(distributed.decode_dataset(ds).iter_rows())
    assert len(rows) == 3 and not any(r["error"] for r in rows)
    for r in rows:
        import io

        from_ray = np.asarray(Image.open(io.BytesIO(r["png"])))
        direct = np.asarray(sdcodec.decode(open(r["path"], "rb").read()))
        assert np.array_equal(from_ray, direct)


def test_cli_hands_a_folder_to_ray(local_ray, tmp_path, crop, capsys):
    from sdcodec.cli import main

    src = tmp_path / "in"
    src.mkdir()
    crop.resize((40, 32)).save(src / "a.png")
    assert main(["encode", str(src), "-o", str(tmp_path / "out"), "--ray", "-k", "4"]) == 0
    assert (tmp_path / "out" / "a.sdc").is_file()
    assert "1 done, 0 failed" in capsys.readouterr().err
    assert main(["encode", str(src / "a.png"), "--ray"]) == 1
