"""Bucket transfer benchmark: memory stays flat whatever the object's size.

    python bench/buckets.py --mib 256          # starts a local S3-compatible server (moto) of its own

Writes an object as the results export does (multipart, tasks/buckets/client.multipart_write), reads it back as a
rows import does (ranged parts to a file, object_download) and as a media import or media serving does (a stream
read a chunk at a time, ObjectBody). For each: MB/s and the growth of this process's resident memory over its
level before the step (sampled every 5 ms). Ends with one line:
``buckets write_mb_s=<n> download_mb_s=<n> stream_mb_s=<n> peak_growth_mb=<n>`` and the target.
"""

import argparse
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
TARGET_PEAK_GROWTH_MB = 64  # flat: the parts in flight, whatever the object's size


class Peak:
    """The largest resident memory of this process while the block runs, less its level at the start."""

    def __init__(self):
        import psutil

        self.process = psutil.Process()

    def __enter__(self):
        self.start = self.process.memory_info().rss
        self.peak = self.start
        self.running = True
        self.thread = threading.Thread(target=self._sample, daemon=True)
        self.thread.start()
        return self

    def _sample(self):
        while self.running:
            self.peak = max(self.peak, self.process.memory_info().rss)
            time.sleep(0.005)

    def __exit__(self, *exc):
        self.running = False
        self.thread.join()

    @property
    def growth_mb(self) -> float:
        return (self.peak - self.start) / 2**20


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mib", type=int, default=256, help="object size in MiB")
    args = parser.parse_args()
    os.environ.setdefault("QUORUM_VAR_DIR", tempfile.mkdtemp(prefix="quorum-bench-"))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "quorum.settings")
    import django

    django.setup()
    from django.conf import settings

    from tasks.buckets.client import ObjectBody, Place, client_for, multipart_write, object_download
    from tests.s3 import running_s3_server

    size = args.mib * 2**20
    block = os.urandom(2**20)
    with running_s3_server() as s3:
        settings.QUORUM_BUCKET_ENDPOINTS = [s3.url]
        s3.client().create_bucket(Bucket="quorum-bench")
        place = Place(s3.url, "us-east-1", "quorum-bench", "", s3.access_key_id, s3.secret)
        client = client_for(place)
        client.list_objects_v2(Bucket="quorum-bench")  # connections and credentials set up before measuring

        with Peak() as write:
            started = time.perf_counter()
            multipart_write(client, place, "big.bin", (block for _ in range(args.mib)), "application/octet-stream")
            write_s = time.perf_counter() - started
        with tempfile.TemporaryFile() as out, Peak() as download:
            started = time.perf_counter()
            object_download(client, place, "big.bin", out)
            download_s = time.perf_counter() - started
            assert out.seek(0, os.SEEK_END) == size  # parts are written at their offsets, in any order
        with Peak() as stream:
            started = time.perf_counter()
            body = ObjectBody(client, place, "big.bin")
            read = 0
            while chunk := body.read(2**20):
                read += len(chunk)
            body.close()
            stream_s = time.perf_counter() - started
            assert read == size

    mb = size / 1e6
    for name, seconds, peak in (
        ("write", write_s, write),
        ("download", download_s, download),
        ("stream", stream_s, stream),
    ):
        print(f"{name:9} {args.mib} MiB in {seconds:.2f} s ({mb / seconds:.0f} MB/s), memory +{peak.growth_mb:.0f} MiB")
    worst = max(write.growth_mb, download.growth_mb, stream.growth_mb)
    verdict = "met" if worst < TARGET_PEAK_GROWTH_MB else "MISSED"
    print(f"target: memory growth under {TARGET_PEAK_GROWTH_MB} MiB for any size: {verdict}")
    print(
        f"buckets write_mb_s={mb / write_s:.0f} download_mb_s={mb / download_s:.0f} "
        f"stream_mb_s={mb / stream_s:.0f} peak_growth_mb={worst:.0f}"
    )


if __name__ == "__main__":
    main()
