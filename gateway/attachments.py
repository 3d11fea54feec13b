"""X4 attachments: the photos and voice messages that come with a complaint.

What a file is comes from its first bytes (magic numbers), never from the name or the
Content-Type the client sent: both are whatever the client says, and a page of HTML named
photo.jpg would otherwise be served back to a handler's browser. Only the formats phones
produce are accepted:

    photo  image/jpeg, image/png, image/webp, image/heic (iPhone)
    voice  audio/amr, audio/amr-wb (WeChat/Android recorders), audio/mpeg (MP3),
           audio/mp4 (M4A, iPhone voice memos), audio/wav

Files are stored by content (content-addressed): the path is the SHA-256 of the bytes, under
two levels of shards (root/ab/cd/abcd…) so no directory grows past 65 536 entries. The same
photo sent twice, or by two complainants, is stored once. The gateway owns the bytes; intake
only records the description (its `attachments` table: complaint, sha256, media_type, kind,
size), which is what ties a file to a case.
Writes go to a temporary file in the target directory and are renamed into place
(os.replace), so a reader never sees half a file and a crash leaves at most a `.tmp-` file.

Pure: no nameko, no SQLAlchemy; stdlib only.
"""
from __future__ import annotations

import hashlib
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path

MiB = 1024 * 1024
DEFAULT_MAX_PHOTO_BYTES = 10 * MiB
DEFAULT_MAX_VOICE_BYTES = 5 * MiB
DEFAULT_MAX_FILES = 9  # a WeChat message holds nine pictures; complainants expect the same

KIND_LABELS = {"photo": "图片", "voice": "语音"}
MEDIA_KINDS = {
    "image/jpeg": "photo",
    "image/png": "photo",
    "image/webp": "photo",
    "image/heic": "photo",
    "audio/amr": "voice",
    "audio/amr-wb": "voice",
    "audio/mpeg": "voice",
    "audio/mp4": "voice",
    "audio/wav": "voice",
}

_SHA256 = re.compile(r"[0-9a-f]{64}")
_HEIC_BRANDS = {b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx"}
_MIF_BRANDS = {b"mif1", b"msf1"}     # generic HEIF: HEIC unless the brands say AVIF
_AVIF_BRANDS = {b"avif", b"avis"}
_M4A_BRANDS = {b"M4A "}
# MPEG audio frame header: sample-rate index 3 and bitrate index 15 are invalid.
_MPEG_VERSION_RESERVED = 0b01
_MPEG_LAYER_RESERVED = 0b00


class AttachmentRejected(ValueError):
    """Why a file is refused: a stable `reason_code` for clients and a message to show."""

    def __init__(self, reason_code: str, message_zh: str):
        super().__init__(f"{reason_code}: {message_zh}")
        self.reason_code = reason_code
        self.message_zh = message_zh


class AttachmentNotFound(FileNotFoundError):
    pass


@dataclass(frozen=True)
class StoredAttachment:
    sha256: str
    media_type: str
    kind: str      # photo | voice
    size: int
    path: Path


def sniff(data: bytes) -> str | None:
    """The media type of `data` from its magic bytes, or None if it is not one we accept."""
    head = data[:64]
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    if head[:4] == b"RIFF" and head[8:12] == b"WAVE":
        return "audio/wav"
    if head.startswith(b"#!AMR-WB\n"):
        return "audio/amr-wb"
    if head.startswith(b"#!AMR\n"):
        return "audio/amr"
    if head[4:8] == b"ftyp":
        return _sniff_iso_media(data)
    if head.startswith(b"ID3") and len(head) >= 10:
        return "audio/mpeg"
    if _is_mpeg_audio_frame(head):
        return "audio/mpeg"
    return None


def _sniff_iso_media(data: bytes) -> str | None:
    # ISO base media (HEIC, M4A, MP4 video…): box size, "ftyp", major brand, minor version,
    # then compatible brands up to the end of the box.
    size = int.from_bytes(data[:4], "big")
    if size < 16 or size > len(data) or size > 4096:
        return None
    major = data[8:12]
    brands = {major} | {data[i:i + 4] for i in range(16, size - 3, 4)}
    if major in _HEIC_BRANDS or (major in _MIF_BRANDS and not brands & _AVIF_BRANDS):
        return "image/heic"
    if brands & _M4A_BRANDS:
        return "audio/mp4"
    return None  # video (mp4, mov, 3gp) and AVIF are not accepted


def _is_mpeg_audio_frame(head: bytes) -> bool:
    # 11 sync bits, then version, layer, and a bitrate and sample rate that are not reserved;
    # checking all of them keeps random binary that happens to start with 0xFF out.
    if len(head) < 4 or head[0] != 0xFF or head[1] & 0xE0 != 0xE0:
        return False
    version = (head[1] >> 3) & 0b11
    layer = (head[1] >> 1) & 0b11
    bitrate = head[2] >> 4
    sample_rate = (head[2] >> 2) & 0b11
    return (version != _MPEG_VERSION_RESERVED and layer != _MPEG_LAYER_RESERVED
            and bitrate not in (0b0000, 0b1111) and sample_rate != 0b11)


def check_sha256(sha256: str) -> str:
    """`sha256` if it is 64 lower-case hex digits; anything else (a path, "../..") is refused
    before it comes near the file system."""
    if not isinstance(sha256, str) or not _SHA256.fullmatch(sha256):
        raise ValueError(f"not a SHA-256 digest: {sha256!r}")
    return sha256


class AttachmentStore:
    def __init__(self, root: str | os.PathLike, *,
                 max_photo_bytes: int = DEFAULT_MAX_PHOTO_BYTES,
                 max_voice_bytes: int = DEFAULT_MAX_VOICE_BYTES,
                 max_files: int = DEFAULT_MAX_FILES):
        if min(max_photo_bytes, max_voice_bytes, max_files) <= 0:
            raise ValueError("attachment limits must be positive")
        self.root = Path(root)
        self.max_bytes = {"photo": max_photo_bytes, "voice": max_voice_bytes}
        self.max_files = max_files

    # ------------------------------------------------------------------ checking
    def check_count(self, existing: int, adding: int = 1) -> None:
        """Refuse a batch that would take a case past `max_files`; call it before storing
        anything, so a batch of ten is refused whole rather than cut at nine."""
        if existing + adding > self.max_files:
            raise AttachmentRejected(
                "too_many", f"每条诉求最多上传 {self.max_files} 个附件,已有 {existing} 个。")

    def inspect(self, data: bytes, declared_name: str | None = None) -> tuple[str, str]:
        """(media_type, kind) of an acceptable file, or AttachmentRejected. Writes nothing."""
        shown = f"“{declared_name}”" if declared_name else "该文件"
        if not data:
            raise AttachmentRejected("empty", f"{shown}是空文件,请重新选择。")
        # Refuse the absurdly large before reading its header; the kind's own limit follows.
        if len(data) > max(self.max_bytes.values()):
            raise AttachmentRejected("too_large", self._too_large_message(shown, None))
        media_type = sniff(data)
        if media_type is None:
            raise AttachmentRejected(
                "unsupported_type",
                f"{shown}不是支持的格式。图片支持 JPEG、PNG、WebP、HEIC,"
                f"语音支持 AMR、MP3、M4A、WAV。")
        kind = MEDIA_KINDS[media_type]
        if len(data) > self.max_bytes[kind]:
            raise AttachmentRejected("too_large", self._too_large_message(shown, kind))
        return media_type, kind

    def _too_large_message(self, shown: str, kind: str | None) -> str:
        limits = [kind] if kind else list(self.max_bytes)
        parts = "、".join(f"{KIND_LABELS[k]}不超过 {_size_text(self.max_bytes[k])}"
                         for k in limits)
        return f"{shown}太大:{parts}。"

    # ------------------------------------------------------------------ storing
    def put(self, data: bytes, declared_name: str | None = None, *,
            existing_count: int | None = None) -> StoredAttachment:
        """Check and store `data`. `declared_name` (the client's file name) is used only in
        messages. With `existing_count` (the case's attachments so far) the count limit is
        checked too. Storing the same bytes again writes nothing and answers the same."""
        if existing_count is not None:
            self.check_count(existing_count)
        media_type, kind = self.inspect(data, declared_name)
        digest = hashlib.sha256(data).hexdigest()
        path = self.path_for(digest)
        if not path.exists():
            self._write_atomically(path, data)
        return StoredAttachment(digest, media_type, kind, len(data), path)

    def _write_atomically(self, path: Path, data: bytes) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        # In the target directory, so os.replace is a rename on one file system.
        handle, temp_name = tempfile.mkstemp(prefix=".tmp-", dir=path.parent)
        try:
            with os.fdopen(handle, "wb") as temp:
                temp.write(data)
                temp.flush()
                os.fsync(temp.fileno())
            os.chmod(temp_name, 0o640)  # complainants' photos: not world-readable (X5)
            # Two writers of the same content race harmlessly: both files hold the same bytes.
            os.replace(temp_name, path)
        except BaseException:
            try:
                os.unlink(temp_name)
            except FileNotFoundError:
                pass
            raise

    # ------------------------------------------------------------------ reading
    def path_for(self, sha256: str) -> Path:
        digest = check_sha256(sha256)
        return self.root / digest[:2] / digest[2:4] / digest

    def exists(self, sha256: str) -> bool:
        return self.path_for(sha256).is_file()

    def open(self, sha256: str, verify: bool = False) -> bytes:
        """The stored bytes. With `verify`, also check they still hash to their name."""
        path = self.path_for(sha256)
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            raise AttachmentNotFound(f"no attachment {sha256}") from None
        if verify and hashlib.sha256(data).hexdigest() != sha256:
            raise OSError(f"attachment {sha256} is corrupt on disk")
        return data


def _size_text(size: int) -> str:
    if size >= MiB and size % MiB == 0:
        return f"{size // MiB} MB"
    if size >= MiB:
        return f"{size / MiB:.1f} MB"
    if size >= 1024:
        return f"{size // 1024} KB"
    return f"{size} 字节"
