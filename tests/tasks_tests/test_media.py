"""A job's media files: what is kept (magic bytes, not names), what an archive may hold, and that a refused file or
archive leaves nothing behind (no upload, no media record, no stored file)."""

import io
import stat
import time
import zipfile
from pathlib import Path

import pytest
from django.conf import settings
from django.test import Client

from tasks import media, services
from tasks.media import sniff, zip_bytes
from tasks.models import Item, MediaFile, Upload
from tests import factories

pytestmark = pytest.mark.django_db

PNG = factories.png_bytes(seed=1)


@pytest.fixture(autouse=True)
def _media_root(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path


def stored_files(job_id: int) -> list[Path]:
    folder = Path(settings.MEDIA_ROOT) / "media" / str(job_id)
    return sorted(p for p in folder.rglob("*") if p.is_file()) if folder.exists() else []


def upload_files() -> set[Path]:
    return set(services.upload_dir().iterdir())


def test_files_are_told_apart_by_their_bytes_and_only_media_are_kept():
    assert sniff(PNG) == "image/png"
    assert sniff(b"\xff\xd8\xff\xe0\x00\x10JFIF") == "image/jpeg"
    assert sniff(b"GIF89a\x01\x00") == "image/gif"
    assert sniff(b"RIFF\x00\x00\x00\x00WEBPVP8 ") == "image/webp"
    assert sniff(factories.MP3_BYTES) == "audio/mpeg"
    assert sniff(b"\xff\xfb\x90\x00") == "audio/mpeg"
    assert sniff(factories.WAV_BYTES) == "audio/wav"
    assert sniff(b"fLaC\x00\x00\x00\x22") == "audio/flac"
    assert sniff(b"OggS\x00\x02" + b"\x00" * 22 + b"\x01vorbis") == "audio/ogg"
    assert sniff(b"\x00\x00\x00\x20ftypM4A \x00\x00\x00\x00") == "audio/mp4"
    assert sniff(b"\x00\x00\x00\x20ftypisom\x00\x00\x02\x00") == "video/mp4"
    assert sniff(b"\x1a\x45\xdf\xa3\x9f\x42\x86\x81\x01\x42\x82\x84webm") == "video/webm"
    # Nothing that a browser could run as a page or script, whatever its name says.
    assert sniff(factories.SVG_BYTES) is None
    assert sniff(b"<!doctype html><script>alert(1)</script>") is None
    assert sniff(b"\xff\xf1\x50\x80") is None  # AAC ADTS, not MP3
    assert sniff(b"") is None


def test_media_sent_alone_are_kept_by_name_and_refused_when_they_are_not_media(requester_api):
    job = factories.make_job(owner=requester_api.user)
    url = f"/api/jobs/{job.pk}/media/"
    response = requester_api.post(f"{url}?name=photos/cat%201.png", data=PNG, content_type="application/octet-stream")
    assert response.status_code == 201, response.content
    [record] = response.json()
    assert record["name"] == "photos/cat 1.png"
    assert (record["kind"], record["content_type"], record["size_bytes"]) == ("image", "image/png", len(PNG))
    assert record["url"].startswith(f"/media/{job.pk}/photos/cat%201.png?a=v&e=")
    [path] = stored_files(job.pk)
    assert path.read_bytes() == PNG
    assert PNG.hex() not in path.name and "cat" not in path.name  # stored under a name of Quorum's own

    # The same bytes again: nothing changes. Other bytes under that name: refused, and the first file stays.
    again = requester_api.post(f"{url}?name=photos/cat%201.png", data=PNG, content_type="application/octet-stream")
    assert again.status_code == 200
    other = requester_api.post(
        f"{url}?name=photos/cat%201.png", data=factories.png_bytes(seed=2), content_type="application/octet-stream"
    )
    assert other.status_code == 400
    assert other.json()["error"]["file"] == "photos/cat 1.png"
    assert "already stored" in other.json()["detail"]
    assert len(stored_files(job.pk)) == 1

    # Multipart, several files: all kept, or none (the SVG spoils the lot), the bad one named.
    files = [
        io.BytesIO(factories.png_bytes(seed=3)),
        io.BytesIO(factories.MP3_BYTES),
        io.BytesIO(factories.SVG_BYTES),
    ]
    for f, name in zip(files, ["a.png", "b.mp3", "c.svg"], strict=True):
        f.name = name
    refused = requester_api.post(url, {"file": files}, format="multipart")
    assert refused.status_code == 400
    assert refused.json()["error"]["file"] == "c.svg"
    assert "not an image, audio or video file" in refused.json()["detail"]
    assert MediaFile.objects.filter(job=job).count() == 1
    assert len(stored_files(job.pk)) == 1
    for f in files[:2]:
        f.seek(0)
    kept = requester_api.post(url, {"file": files[:2]}, format="multipart")
    assert kept.status_code == 201, kept.content
    assert sorted((r["name"], r["kind"]) for r in kept.json()) == [("a.png", "image"), ("b.mp3", "audio")]

    for bad_name, message in [("../x.png", "leaves the archive"), ("/etc/x.png", "absolute"), ("C:/x.png", "absolute")]:
        response = requester_api.post(f"{url}?name={bad_name}", data=PNG, content_type="application/octet-stream")
        assert response.status_code == 400 and message in response.json()["detail"], response.content
    assert MediaFile.objects.filter(job=job).count() == 3
    assert len(stored_files(job.pk)) == 3

    listed = requester_api.get(url).json()
    assert [r["name"] for r in listed["results"]] == ["a.png", "b.mp3", "photos/cat 1.png"]


def test_only_the_jobs_requester_may_send_or_list_its_media(requester_api, api):
    job = factories.make_job()  # someone else's
    response = requester_api.post(
        f"/api/jobs/{job.pk}/media/?name=a.png", data=PNG, content_type="application/octet-stream"
    )
    assert response.status_code == 404
    assert requester_api.get(f"/api/jobs/{job.pk}/media/").status_code == 404
    worker = factories.make_worker()
    api.force_authenticate(worker)
    assert api.post(f"/api/jobs/{job.pk}/media/?name=a.png", data=PNG, content_type="image/png").status_code == 403
    assert not stored_files(job.pk)


def symlink_entry(name: str, target: str) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name)
    info.create_system = 3
    info.external_attr = (stat.S_IFLNK | 0o777) << 16
    return info


def archive_with(entries: list[tuple]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in entries:
            archive.writestr(name, data)
    return out.getvalue()


CSV = factories.csv_bytes([{"id": "1", "text": "one", "photo": "a.png"}])


@pytest.mark.parametrize(
    "entries, where, message",
    [
        ([("../evil.png", PNG), ("items.csv", CSV)], "../evil.png", "leaves the archive"),
        ([("/etc/evil.png", PNG), ("items.csv", CSV)], "/etc/evil.png", "absolute"),
        ([("C:/evil.png", PNG), ("items.csv", CSV)], "C:/evil.png", "absolute"),
        ([("a\\..\\..\\evil.png", PNG), ("items.csv", CSV)], "a\\..\\..\\evil.png", "leaves the archive"),
        ([(symlink_entry("a.png", "/etc/passwd"), "/etc/passwd"), ("items.csv", CSV)], "a.png", "symbolic link"),
        ([("a.png", PNG)], "bundle.zip", "no data file"),
        ([("a.png", PNG), ("items.csv", CSV), ("more.jsonl", b"{}\n")], "bundle.zip", "more than one data file"),
        ([("a.png", PNG), ("A.png", PNG), ("a.png", PNG), ("items.csv", CSV)], "a.png", "two entries"),
    ],
)
def test_an_unsafe_archive_is_refused_at_once_naming_the_entry(requester_api, entries, where, message):
    job = factories.make_job(owner=requester_api.user)
    before = upload_files()
    response = requester_api.post(
        f"/api/jobs/{job.pk}/uploads/?filename=bundle.zip", data=archive_with(entries), content_type="application/zip"
    )
    assert response.status_code == 400, response.content
    assert response.json()["error"]["file"] == where
    assert message in response.json()["detail"]
    assert not Upload.objects.filter(job=job).exists()
    assert upload_files() == before
    assert not stored_files(job.pk)


def test_a_zip_bomb_is_refused_from_its_directory_before_anything_is_unpacked(requester_api):
    job = factories.make_job(owner=requester_api.user)
    bomb = archive_with([("items.csv", CSV), ("a.png", PNG + b"\x00" * (200 * 1024**2))])  # 200 MB of zeros
    assert len(bomb) < 400_000
    started = time.monotonic()
    response = requester_api.post(
        f"/api/jobs/{job.pk}/uploads/?filename=bomb.zip", data=bomb, content_type="application/zip"
    )
    assert time.monotonic() - started < 2
    assert response.status_code == 400
    assert response.json()["error"]["file"] == "a.png"
    assert "zip bomb" in response.json()["detail"]
    assert not Upload.objects.filter(job=job).exists()


def test_archive_limits_on_files_and_unpacked_bytes(requester_api, settings):
    job = factories.make_job(owner=requester_api.user)
    settings.QUORUM_MAX_MEDIA_FILES = 3
    many = archive_with([(f"{i}.png", PNG) for i in range(4)] + [("items.csv", CSV)])
    response = requester_api.post(
        f"/api/jobs/{job.pk}/uploads/?filename=many.zip", data=many, content_type="application/zip"
    )
    assert response.status_code == 400 and "QUORUM_MAX_MEDIA_FILES" in response.json()["detail"]
    settings.QUORUM_MAX_MEDIA_FILES = 100
    settings.QUORUM_MAX_MEDIA_BYTES = 3 * len(PNG)
    large = archive_with([(f"{i}.png", factories.png_bytes(seed=i)) for i in range(4)] + [("items.csv", CSV)])
    response = requester_api.post(
        f"/api/jobs/{job.pk}/uploads/?filename=large.zip", data=large, content_type="application/zip"
    )
    assert response.status_code == 413 and "QUORUM_MAX_MEDIA_BYTES" in response.json()["detail"]
    assert not Upload.objects.filter(job=job).exists()


def lying_archive(files: dict[str, bytes], shrink: str) -> bytes:
    """An archive whose central directory declares a quarter of one file's real size."""
    data = bytearray(zip_bytes(files))
    at = data.find(b"PK\x01\x02")
    while at != -1:
        name_length = int.from_bytes(data[at + 28 : at + 30], "little")
        if data[at + 46 : at + 46 + name_length].decode() == shrink:
            size = int.from_bytes(data[at + 24 : at + 28], "little")
            data[at + 24 : at + 28] = (size // 4).to_bytes(4, "little")
            return bytes(data)
        at = data.find(b"PK\x01\x02", at + 4)
    raise AssertionError(f"{shrink} is not in the archive")


def test_bytes_are_counted_as_they_are_unpacked_and_a_failed_archive_leaves_nothing(requester):
    job = factories.make_job(owner=requester)
    big = factories.png_bytes(64, 64, seed=7)
    files = {"a.png": PNG, "b.png": big, "items.csv": CSV}
    upload = factories.ingest_now(job, lying_archive(files, "b.png"), filename="lies.zip")
    assert upload.status == Upload.Status.FAILED
    assert upload.error["file"] == "lies.zip" and "damaged" in upload.error["message"], upload.error
    assert not Item.objects.filter(job=job).exists()
    assert not MediaFile.objects.filter(job=job).exists()
    assert not stored_files(job.pk)

    not_media = zip_bytes({"a.png": PNG, "notes/readme.png": b"<html><script>alert(1)</script>", "items.csv": CSV})
    upload = factories.ingest_now(job, not_media, filename="bundle.zip")
    assert upload.status == Upload.Status.FAILED
    assert upload.error["file"] == "notes/readme.png"
    assert "not an image, audio or video file" in upload.error["message"]
    assert not MediaFile.objects.filter(job=job).exists() and not stored_files(job.pk)


def test_an_archive_without_media_columns_still_keeps_its_files_with_the_items(
    requester, django_capture_on_commit_callbacks
):
    job = factories.make_job(owner=requester)
    archive = zip_bytes({"__MACOSX/._a.png": b"junk", "img/a.png": PNG, "items.csv": CSV})
    upload = factories.ingest_now(job, archive, filename="bundle.zip")
    assert upload.status == Upload.Status.DONE, upload.error
    assert Item.objects.filter(job=job).count() == 1
    assert list(MediaFile.objects.filter(job=job).values_list("name", "kind")) == [("img/a.png", "image")]
    assert [p.read_bytes() for p in stored_files(job.pk)] == [PNG]
    # Deleting the job deletes its files too.
    with django_capture_on_commit_callbacks(execute=True):
        services.job_delete(job)
    assert not stored_files(job.pk)


def test_signed_urls_bind_every_part():
    url = media.worker_url(5, "a b.png", worker_id=7, microtask_id=9, lease_expires=time.time() + 60)
    path, _, query = url.partition("?")
    assert path == "/media/5/a%20b.png"
    parts = dict(p.split("=", 1) for p in query.split("&"))
    grant = media.verify(5, "a b.png", parts["a"], parts["e"], parts["s"])
    assert (grant.worker_id, grant.microtask_id) == (7, 9)
    assert grant.expires <= time.time() + 62
    assert media.verify(6, "a b.png", parts["a"], parts["e"], parts["s"]) is None
    assert media.verify(5, "a c.png", parts["a"], parts["e"], parts["s"]) is None
    assert media.verify(5, "a b.png", "w8.9", parts["e"], parts["s"]) is None
    assert media.verify(5, "a b.png", parts["a"], str(int(parts["e"]) + 1), parts["s"]) is None
    # A lease of an hour still gets a URL of at most QUORUM_MEDIA_WORKER_URL_SECONDS.
    long = media.worker_url(5, "a.png", 7, 9, lease_expires=time.time() + 3600)
    expires = int(long.split("e=")[1].split("&")[0])
    assert expires <= time.time() + settings.QUORUM_MEDIA_WORKER_URL_SECONDS + 2


# --- rows that name media ---------------------------------------------------------------------------------------

DISPLAY = [{"type": "image", "column": "photo", "label": "Photo"}, {"type": "text", "column": "text", "label": ""}]


def media_job(owner=None, **fields):
    defaults = {"display": DISPLAY, "media_origins": ["https://img.example.org"]}
    return factories.make_job(owner=owner, **{**defaults, **fields})


def assert_nothing_stored(job):
    job.refresh_from_db()
    assert job.item_count == 0
    assert not Item.objects.filter(job=job).exists()
    assert not MediaFile.objects.filter(job=job).exists()
    assert not stored_files(job.pk)


def test_a_zip_of_images_and_rows_that_name_them_or_allowed_urls_is_ingested(requester):
    job = media_job(requester)
    rows = [
        {"id": "1", "text": "one", "photo": "img/a.png"},
        {"id": "2", "text": "two", "photo": "https://img.example.org/b.jpg"},
        {"id": "3", "text": "three", "photo": "./img/a.png"},
        {"id": "4", "text": "four", "photo": ""},
    ]
    archive = zip_bytes({"img/a.png": PNG, "data/items.csv": factories.csv_bytes(rows)})
    upload = factories.ingest_now(job, archive, filename="bundle.zip")
    assert upload.status == Upload.Status.DONE, upload.error
    assert upload.items_created == 4
    assert MediaFile.objects.get(job=job).name == "img/a.png"


@pytest.mark.parametrize(
    "files, photo, line_message",
    [
        ({"img/a.png": PNG}, "img/missing.png", "the file 'img/missing.png' is not stored for this job"),
        ({"img/a.png": PNG, "clip.mp3": factories.MP3_BYTES}, "clip.mp3", "'clip.mp3' is not an image (audio file)"),
        ({"img/a.png": PNG}, "https://evil.example.com/x.png", "origin https://evil.example.com is not allowed"),
        ({"img/a.png": PNG}, "https://user:pw@img.example.org/x.png", "is not a valid http(s) URL"),
        ({"img/a.png": PNG}, "javascript:alert(1)", "is not stored for this job"),
    ],
)
def test_a_row_naming_media_it_may_not_is_refused_naming_file_line_and_column(requester, files, photo, line_message):
    job = media_job(requester)
    rows = [{"id": "1", "text": "one", "photo": "img/a.png"}, {"id": "2", "text": "two", "photo": photo}]
    archive = zip_bytes({**files, "items.csv": factories.csv_bytes(rows)})
    upload = factories.ingest_now(job, archive, filename="bundle.zip")
    assert upload.status == Upload.Status.FAILED
    assert (upload.error["file"], upload.error["line"], upload.error["field"]) == ("items.csv", 3, "photo")
    assert line_message in upload.error["message"], upload.error
    assert_nothing_stored(job)


def test_media_sent_first_are_found_by_a_later_data_file_and_json_rows_are_checked_too(requester, settings):
    job = media_job(requester, media_origins=[])
    media.media_store(job, [("a.png", io.BytesIO(PNG))])
    settings.QUORUM_MEDIA_ORIGINS = ["https://cdn.example.net:8443"]
    lines = [
        '{"id": "1", "text": "one", "photo": "a.png"}',
        '{"id": "2", "text": "two", "photo": "https://cdn.example.net:8443/p/2.png"}',
    ]
    upload = factories.ingest_now(job, "\n".join(lines).encode(), filename="items.jsonl")
    assert upload.status == Upload.Status.DONE, upload.error
    bad = factories.ingest_now(job, b'{"id": "3", "text": "x", "photo": 7}\n', filename="more.jsonl")
    assert bad.status == Upload.Status.FAILED
    assert (bad.error["line"], bad.error["field"]) == (1, "photo")
    assert "file name or an http(s) URL" in bad.error["message"]
    job.refresh_from_db()
    assert job.item_count == 2


def test_a_failed_data_file_takes_its_archives_media_with_it_but_not_media_stored_before(requester):
    job = media_job(requester)
    media.media_store(job, [("kept.png", io.BytesIO(PNG))])
    rows = [{"id": "1", "text": "one", "photo": "kept.png"}, {"id": "2", "text": "two", "photo": "new.png"}]
    bad_rows = rows + [{"id": "3", "text": "three", "photo": "nowhere.png"}]
    archive = zip_bytes({"new.png": factories.png_bytes(seed=9), "items.csv": factories.csv_bytes(bad_rows)})
    upload = factories.ingest_now(job, archive, filename="bundle.zip")
    assert upload.status == Upload.Status.FAILED and upload.error["line"] == 4
    assert list(MediaFile.objects.filter(job=job).values_list("name", flat=True)) == ["kept.png"]
    assert len(stored_files(job.pk)) == 1
    # The same archive made right: both files are there, once each.
    archive = zip_bytes(
        {"new.png": factories.png_bytes(seed=9), "kept.png": PNG, "items.csv": factories.csv_bytes(rows)}
    )
    upload = factories.ingest_now(job, archive, filename="bundle.zip")
    assert upload.status == Upload.Status.DONE, upload.error
    assert sorted(MediaFile.objects.filter(job=job).values_list("name", flat=True)) == ["kept.png", "new.png"]
    assert len(stored_files(job.pk)) == 2


def test_the_items_api_gives_the_requester_signed_urls(requester_api):
    job = media_job(requester_api.user)
    rows = [
        {"id": "1", "text": "one", "photo": "a.png"},
        {"id": "2", "text": "two", "photo": "https://img.example.org/b"},
    ]
    factories.ingest_now(job, zip_bytes({"a.png": PNG, "items.csv": factories.csv_bytes(rows)}), filename="b.zip")
    items = requester_api.get(f"/api/jobs/{job.pk}/items/").json()["results"]
    first, second = (item["media"]["photo"] for item in items)
    assert first.startswith(f"/media/{job.pk}/a.png?a=v&e=")
    assert second == "https://img.example.org/b"
    # The item page shows the requester the image, through a URL signed for them.
    client = Client()
    client.force_login(requester_api.user)
    page = client.get(f"/jobs/{job.pk}/items/{items[0]['id']}/").content.decode()
    assert f'<img class="item-media" src="/media/{job.pk}/a.png?a=v&amp;e=' in page


def test_pages_that_show_items_allow_media_from_the_jobs_origins(client, settings):
    from quorum import middleware

    settings.QUORUM_MEDIA_ORIGINS = ["https://cdn.example.net"]
    middleware._open_origins = (0.0, ())
    requester = factories.make_requester()
    job = media_job(requester, media_origins=["https://img.example.org", "https://a;b.example.org"])
    type(job).objects.filter(pk=job.pk).update(status="open")  # opened directly: its items do not matter here
    client.force_login(factories.make_worker())
    policy = client.get("/work/")["Content-Security-Policy"]
    assert "img-src 'self' data: https://cdn.example.net https://img.example.org;" in policy
    assert "media-src 'self' https://cdn.example.net https://img.example.org;" in policy
    assert "a;b" not in policy  # what is not an origin never reaches the header
    client.force_login(requester)
    assert "https://img.example.org" in client.get(f"/jobs/{job.pk}/")["Content-Security-Policy"]
    # Other pages allow the deployment's origins only.
    assert "img.example.org" not in client.get("/account/tokens/")["Content-Security-Policy"]


def test_the_digits_demo_goes_through_the_archive_path(requester):
    pytest.importorskip("sklearn")
    from quorum.demo_digits import DIGITS_JOB, digits_setup

    digits_setup(requester, count=40)
    job = requester.jobs.get(name=DIGITS_JOB)
    assert job.item_count == 40
    assert MediaFile.objects.filter(job=job, kind="image").count() == 40
    assert len(stored_files(job.pk)) == 40
    assert Item.objects.filter(job=job).exclude(gold=None).count() == 4  # every tenth image
