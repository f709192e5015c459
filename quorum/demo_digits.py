"""The second demo job: "which digit is this?" over images of handwritten digits, with gold.

The digits are scikit-learn's (1,797 scans of 8 x 8 pixels, 16 grey levels, shipped inside the package, so
nothing is downloaded), drawn 12 times larger as PNG files and uploaded as a zip archive with a CSV that names
each file: the same path a requester's image job takes.
"""

import csv
import io
import struct
import tempfile
import zipfile
import zlib

import numpy as np

DIGITS_JOB = "Handwritten digits (demo)"
SCALE = 12  # 8 px -> 96 px
GOLD_EVERY = 10  # every tenth image is a gold item


def grey_png(pixels: np.ndarray) -> bytes:
    """A greyscale PNG of a 2-D uint8 array (no imaging library needed)."""
    height, width = pixels.shape
    raw = b"".join(b"\x00" + pixels[row].astype(np.uint8).tobytes() for row in range(height))

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)  # 8-bit greyscale
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw, 6)) + chunk(b"IEND", b"")


def digit_images(count: int | None = None):
    """(index, digit, PNG bytes) of the scans: dark ink on white, enlarged without smoothing."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    for n, (image, target) in enumerate(zip(digits.images, digits.target, strict=True)):
        if count is not None and n >= count:
            return
        ink = 255 - (image * (255 / 16)).astype(np.uint8)
        yield n, int(target), grey_png(np.kron(ink, np.ones((SCALE, SCALE), dtype=np.uint8)))


def digits_archive(path: str, count: int | None = None) -> int:
    """Write the zip a requester would upload: images/ and digits.csv (id, image, gold). Returns the rows."""
    table = io.StringIO()
    writer = csv.writer(table, lineterminator="\n")
    writer.writerow(["id", "image", "gold"])
    rows = 0
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED) as archive:
        for n, digit, png in digit_images(count):
            name = f"images/digit-{n:04d}.png"
            archive.writestr(name, png)
            writer.writerow([f"digit-{n:04d}", name, digit if n % GOLD_EVERY == 0 else ""])
            rows += 1
        archive.writestr("digits.csv", table.getvalue())
    return rows


def digits_setup(owner, count: int | None = None) -> str:
    from tasks import services
    from tasks.models import Job

    if Job.objects.filter(owner=owner, name=DIGITS_JOB).exists():
        return "demo digits job already exists"
    job = services.job_create(
        owner=owner,
        name=DIGITS_JOB,
        demo=True,
        instructions="Each image shows one handwritten digit. Press its number key.",
        display=[{"type": "image", "column": "image", "label": "Handwritten digit"}],
        questions=[
            {
                "name": "digit",
                "type": "single_choice",
                "prompt": "Which digit is this?",
                "required": True,
                "gold_column": "gold",
                "options": [str(d) for d in range(10)],
            }
        ],
        question_type="single_choice",
        question="Which digit is this?",
        options=[str(d) for d in range(10)],
        redundancy=3,
        priority=5,
        reward="0.01",
    )
    with tempfile.NamedTemporaryFile(suffix=".zip", delete=False) as tmp:
        path = tmp.name
    digits_archive(path, count)
    upload = services.upload_create(job=job, filename="digits.zip", source=path, in_background=False)
    services.upload_ingest(upload.pk)
    job.refresh_from_db()
    if job.item_count:
        services.job_publish(job)
    return f"demo job '{DIGITS_JOB}' ({job.item_count} images) created"


def digit_templates() -> np.ndarray:
    """The mean image of each digit at 8 x 8: a simulated worker reads an image by its nearest template."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    return np.stack([digits.images[digits.target == d].mean(axis=0) for d in range(10)])


def read_digit(png: bytes, templates: np.ndarray) -> str | None:
    """The digit a PNG from ``digit_images`` shows, by its nearest template (what a simulated worker sees)."""
    try:
        width, height = struct.unpack(">II", png[16:24])
        start = png.index(b"IDAT") + 4
        length = struct.unpack(">I", png[start - 8 : start - 4])[0]
        raw = np.frombuffer(zlib.decompress(png[start : start + length]), dtype=np.uint8)
        pixels = raw.reshape(height, width + 1)[:, 1:]
    except (ValueError, struct.error, zlib.error):
        return None
    small = (255 - pixels[::SCALE, ::SCALE].astype(float)) * 16 / 255
    return str(int(np.argmin(((templates - small) ** 2).sum(axis=(1, 2)))))
