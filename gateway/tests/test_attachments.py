import hashlib
import os

import pytest

from gateway.attachments import (DEFAULT_MAX_FILES, DEFAULT_MAX_PHOTO_BYTES,
                                         DEFAULT_MAX_VOICE_BYTES, MiB, AttachmentNotFound,
                                         AttachmentRejected, AttachmentStore, check_sha256,
                                         sniff)

# Minimal real headers, padded with bytes that mean nothing.
PAD = bytes(range(256))
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00" + PAD
JPEG_EXIF = b"\xff\xd8\xff\xe1\x00\x18Exif\x00\x00" + PAD
PNG = (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00"
       b"\x00\x1f\x15\xc4\x89" + PAD)
WEBP = b"RIFF\x24\x02\x00\x00WEBPVP8 \x18\x02\x00\x00" + PAD
HEIC = b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + PAD
HEIC_MIF1 = b"\x00\x00\x00\x1cftypmif1\x00\x00\x00\x00mif1heicmiaf" + PAD
HEIX = b"\x00\x00\x00\x18ftypheix\x00\x00\x00\x00mif1heix" + PAD
AMR = b"#!AMR\n" + b"\x3c" + PAD
AMR_WB = b"#!AMR-WB\n" + b"\x04" + PAD
MP3_ID3 = b"ID3\x04\x00\x00\x00\x00\x00\x23TSSE\x00\x00\x00\x0f" + PAD
MP3_FRAME = b"\xff\xfb\x90\x64\x00\x00\x00\x00" + PAD        # MPEG-1 Layer III 128k 44.1k
M4A = b"\x00\x00\x00\x20ftypM4A \x00\x00\x02\x00M4A mp42isom\x00\x00\x00\x00" + PAD
WAV = b"RIFF\x24\x08\x00\x00WAVEfmt \x10\x00\x00\x00\x01\x00\x01\x00" + PAD

ACCEPTED = [
    (JPEG, "image/jpeg", "photo"), (JPEG_EXIF, "image/jpeg", "photo"),
    (PNG, "image/png", "photo"), (WEBP, "image/webp", "photo"),
    (HEIC, "image/heic", "photo"), (HEIC_MIF1, "image/heic", "photo"),
    (HEIX, "image/heic", "photo"),
    (AMR, "audio/amr", "voice"), (AMR_WB, "audio/amr-wb", "voice"),
    (MP3_ID3, "audio/mpeg", "voice"), (MP3_FRAME, "audio/mpeg", "voice"),
    (M4A, "audio/mp4", "voice"), (WAV, "audio/wav", "voice"),
]

REJECTED = {
    "pdf": b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj" + PAD,
    "exe": b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff" + PAD,
    "html": b"<!DOCTYPE html><html><script>alert(1)</script></html>",
    "html-lower": b"<html><body onload=alert(1)>",
    "svg": b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>',
    "gif": b"GIF89a\x01\x00\x01\x00\x80\x00\x00" + PAD,
    "zip": b"PK\x03\x04\x14\x00\x00\x00\x08\x00" + PAD,
    "mp4-video": b"\x00\x00\x00\x20ftypisom\x00\x00\x02\x00isomiso2avc1mp41" + PAD,
    "avif": b"\x00\x00\x00\x1cftypavif\x00\x00\x00\x00avifmif1miaf" + PAD,
    "mif1-avif": b"\x00\x00\x00\x1cftypmif1\x00\x00\x00\x00mif1avifmiaf" + PAD,
    "ftyp-truncated": b"\x00\x00\x10\x00ftypheic",
    "aac-adts": b"\xff\xf1\x50\x80\x02\x1f\xfc" + PAD,          # layer bits 00: not MPEG audio
    "ff-bad-bitrate": b"\xff\xfb\xf0\x00" + PAD,
    "ff-bad-samplerate": b"\xff\xfb\x9c\x00" + PAD,
    "riff-avi": b"RIFF\x24\x08\x00\x00AVI LIST" + PAD,
    "silk": b"\x02#!SILK_V3\x0c\x00" + PAD,
    "text": "宿舍漏水了".encode(),
}


@pytest.fixture
def store(tmp_path):
    return AttachmentStore(tmp_path / "attachments")


def _files(root):
    return sorted(p for p in root.rglob("*") if p.is_file())


# ------------------------------------------------------------------ types
@pytest.mark.parametrize("data, media_type, kind", ACCEPTED,
                         ids=[f"{t}-{n}" for n, (_, t, _) in enumerate(ACCEPTED)])
def test_each_accepted_type_is_recognised_from_its_bytes(store, data, media_type, kind):
    stored = store.put(data)

    assert (stored.media_type, stored.kind, stored.size) == (media_type, kind, len(data))
    assert stored.sha256 == hashlib.sha256(data).hexdigest()
    assert stored.path.read_bytes() == data


@pytest.mark.parametrize("name", sorted(REJECTED))
def test_other_content_is_refused_whatever_its_name(store, name):
    with pytest.raises(AttachmentRejected) as refused:
        store.put(REJECTED[name], declared_name="photo.jpg")

    assert refused.value.reason_code == "unsupported_type"
    assert "photo.jpg" in refused.value.message_zh and "JPEG" in refused.value.message_zh
    assert _files(store.root) == []


def test_the_declared_name_does_not_decide_the_type(store):
    # A real PNG sent as voice.amr is a photo.
    assert store.put(PNG, declared_name="voice.amr").media_type == "image/png"


def test_sniff_needs_more_than_a_prefix_of_a_magic_number():
    assert sniff(b"\xff\xd8") is None
    assert sniff(b"RIFF") is None
    assert sniff(b"ID3") is None
    assert sniff(b"") is None


# ------------------------------------------------------------------ sizes and counts
def test_empty_data_is_refused(store):
    with pytest.raises(AttachmentRejected) as refused:
        store.put(b"", declared_name="空.jpg")

    assert refused.value.reason_code == "empty"
    assert "空文件" in refused.value.message_zh


@pytest.mark.parametrize("header, limit", [(JPEG, 1000), (AMR, 500)], ids=["photo", "voice"])
def test_a_file_at_the_limit_is_taken_and_one_byte_more_is_not(tmp_path, header, limit):
    store = AttachmentStore(tmp_path, max_photo_bytes=1000, max_voice_bytes=500)
    at_limit = header + b"\x00" * (limit - len(header))

    assert store.put(at_limit).size == limit
    with pytest.raises(AttachmentRejected) as refused:
        store.put(at_limit + b"\x00")
    assert refused.value.reason_code == "too_large"


def test_voice_has_its_own_smaller_limit(tmp_path):
    store = AttachmentStore(tmp_path, max_photo_bytes=1000, max_voice_bytes=500)
    voice = AMR + b"\x00" * (800 - len(AMR))      # under the photo limit, over the voice one

    with pytest.raises(AttachmentRejected) as refused:
        store.put(voice, declared_name="语音.amr")

    assert refused.value.reason_code == "too_large"
    assert "语音不超过 500 字节" in refused.value.message_zh
    assert store.put(JPEG + b"\x00" * (800 - len(JPEG))).kind == "photo"


def test_something_larger_than_any_limit_is_refused_before_its_type_is_read(tmp_path):
    store = AttachmentStore(tmp_path, max_photo_bytes=1000, max_voice_bytes=500)

    with pytest.raises(AttachmentRejected) as refused:
        store.put(REJECTED["exe"] + b"\x00" * 2000)

    assert refused.value.reason_code == "too_large"


def test_default_limits(store):
    assert (store.max_bytes, store.max_files) == (
        {"photo": 10 * MiB, "voice": 5 * MiB}, 9)
    assert (DEFAULT_MAX_PHOTO_BYTES, DEFAULT_MAX_VOICE_BYTES, DEFAULT_MAX_FILES) == (
        10 * MiB, 5 * MiB, 9)
    photo = JPEG + b"\x00" * (10 * MiB - len(JPEG))
    assert store.put(photo).size == 10 * MiB
    with pytest.raises(AttachmentRejected, match="图片不超过 10 MB"):
        store.put(photo + b"\x00")
    with pytest.raises(AttachmentRejected, match="语音不超过 5 MB"):
        store.put(AMR + b"\x00" * (5 * MiB))


def test_count_limit(tmp_path):
    store = AttachmentStore(tmp_path, max_files=3)

    store.check_count(existing=2)
    store.check_count(existing=0, adding=3)
    with pytest.raises(AttachmentRejected) as refused:
        store.check_count(existing=3)
    assert refused.value.reason_code == "too_many"
    assert "最多上传 3 个附件" in refused.value.message_zh
    with pytest.raises(AttachmentRejected, match="too_many"):
        store.check_count(existing=1, adding=3)   # a batch is refused whole


def test_put_checks_the_count_when_given_one(tmp_path):
    store = AttachmentStore(tmp_path, max_files=3)

    assert store.put(JPEG, existing_count=2).kind == "photo"
    with pytest.raises(AttachmentRejected, match="too_many"):
        store.put(PNG, existing_count=3)
    assert not store.exists(hashlib.sha256(PNG).hexdigest())


@pytest.mark.parametrize("limits", [
    {"max_photo_bytes": 0}, {"max_voice_bytes": -1}, {"max_files": 0}])
def test_limits_must_be_positive(tmp_path, limits):
    with pytest.raises(ValueError):
        AttachmentStore(tmp_path, **limits)


def test_rejection_carries_code_and_message():
    error = AttachmentRejected("too_large", "太大了")

    assert (error.reason_code, error.message_zh) == ("too_large", "太大了")
    assert isinstance(error, ValueError)


# ------------------------------------------------------------------ storage
def test_files_are_sharded_by_their_digest(store):
    stored = store.put(JPEG)
    digest = stored.sha256

    assert stored.path == store.root / digest[:2] / digest[2:4] / digest
    assert store.path_for(digest) == stored.path
    assert store.exists(digest)
    assert store.open(digest) == JPEG
    assert store.open(digest, verify=True) == JPEG


def test_the_same_content_is_stored_once(store, monkeypatch):
    first = store.put(JPEG, declared_name="a.jpg")

    def no_write(*args):
        raise AssertionError("the same content was written again")
    monkeypatch.setattr(os, "replace", no_write)
    second = store.put(JPEG, declared_name="b.jpg")

    assert second == first
    assert _files(store.root) == [first.path]


def test_different_content_is_stored_apart(store):
    paths = {store.put(data).path for data, _, _ in ACCEPTED}

    assert len(paths) == len(ACCEPTED) == len(_files(store.root))


def test_writes_leave_no_temporary_files(store):
    for data, _, _ in ACCEPTED:
        store.put(data)

    assert not [p for p in store.root.rglob("*") if p.name.startswith(".tmp-")]


def test_a_failed_write_leaves_neither_the_file_nor_its_temporary(store, monkeypatch):
    def disk_full(*args):
        raise OSError(28, "No space left on device")
    monkeypatch.setattr(os, "replace", disk_full)

    with pytest.raises(OSError):
        store.put(JPEG)

    assert _files(store.root) == []
    assert not store.exists(hashlib.sha256(JPEG).hexdigest())


def test_stored_files_are_not_world_readable(store):
    assert store.put(JPEG).path.stat().st_mode & 0o007 == 0


def test_a_missing_attachment_is_not_found(store):
    digest = hashlib.sha256(b"never stored").hexdigest()

    assert not store.exists(digest)
    with pytest.raises(AttachmentNotFound):
        store.open(digest)
    with pytest.raises(FileNotFoundError):   # AttachmentNotFound is one
        store.open(digest)


def test_verify_notices_a_corrupted_file(store):
    stored = store.put(JPEG)
    stored.path.write_bytes(PNG)

    assert store.open(stored.sha256) == PNG
    with pytest.raises(OSError, match="corrupt"):
        store.open(stored.sha256, verify=True)


@pytest.mark.parametrize("bad", [
    "../../etc/passwd",
    "../" * 10 + "etc/passwd",
    "/etc/passwd",
    "ab/cd/" + "a" * 60,
    "a" * 63,
    "a" * 65,
    "A" * 64,                     # digests are lower-case hex, one spelling per file
    "g" * 64,
    "a" * 63 + "\n",
    "a" * 64 + "\n",
    "..",
    "",
    None,
    42,
])
def test_anything_but_a_digest_is_refused_before_touching_the_disk(store, bad):
    for read in (store.path_for, store.exists, store.open):
        with pytest.raises(ValueError):
            read(bad)
    with pytest.raises(ValueError):
        check_sha256(bad)
