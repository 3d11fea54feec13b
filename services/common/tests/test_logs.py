import io
import json
import logging
import sys

import pytest

from services.common.logs import (ContextFilter, complaint_id_var, configure_logging,
                                  correlation_id_var, mask_phone)

PHONE = "13912345678"
MASKED = "139****5678"


@pytest.mark.parametrize("text, expected", [
    ("13912345678", "139****5678"),
    ("请回电 13912345678 谢谢", "请回电 139****5678 谢谢"),
    ("+86 18612345678", "+86 186****5678"),
    ("a 13912345678, b 15000001111", "a 139****5678, b 150****1111"),
])
def test_mask_phone_hides_the_middle_of_mainland_mobiles(text, expected):
    assert mask_phone(text) == expected


@pytest.mark.parametrize("text", [
    "139123456789",        # longer digit run: an id, not a phone
    "813912345678",
    "12912345678",         # no mobile prefix starts with 12
    "student 2023001234",
])
def test_mask_phone_leaves_other_digit_runs_alone(text):
    assert mask_phone(text) == text


@pytest.fixture
def log_context():
    tokens = (correlation_id_var.set("corr-42"), complaint_id_var.set("c-7"))
    yield
    correlation_id_var.reset(tokens[0])
    complaint_id_var.reset(tokens[1])


def record(msg, *args):
    return logging.LogRecord("jiesu.test", logging.INFO, __file__, 1, msg, args or None, None)


def test_context_filter_stamps_service_and_ids(log_context):
    rec = record("hello")

    assert ContextFilter("intake").filter(rec) is True
    assert (rec.service, rec.correlation_id, rec.complaint_id) == ("intake", "corr-42", "c-7")


def test_context_filter_stamps_none_outside_a_worker():
    # Outside a worker: unbound (a worker_factory test run before may have bound this thread).
    tokens = (correlation_id_var.set(None), complaint_id_var.set(None))
    rec = record("hello")

    ContextFilter("intake").filter(rec)
    correlation_id_var.reset(tokens[0])
    complaint_id_var.reset(tokens[1])

    assert rec.correlation_id is None and rec.complaint_id is None


def test_context_filter_masks_phones_in_the_message_and_its_arguments():
    rec = record(f"from {PHONE} to %s about %s", "15000001111", 3)

    ContextFilter("intake").filter(rec)

    assert rec.getMessage() == f"from {MASKED} to 150****1111 about 3"


def test_context_filter_masks_phones_in_mapping_arguments():
    rec = logging.LogRecord("jiesu.test", logging.INFO, __file__, 1, "call %(phone)s",
                            ({"phone": PHONE},), None)

    ContextFilter("intake").filter(rec)

    assert rec.getMessage() == f"call {MASKED}"


def test_context_filter_masks_phones_in_non_string_arguments():
    rec = record("event %s", {"contact_phone": PHONE})

    ContextFilter("intake").filter(rec)

    assert PHONE not in rec.getMessage()


@pytest.fixture
def configure():
    """configure_logging(...) writing into a string instead of stderr; the root logger's
    previous configuration comes back afterwards so later tests log as before."""
    root = logging.getLogger()
    saved_handlers, saved_level = root.handlers[:], root.level
    noisy = {name: logging.getLogger(name).level for name in ("kombu", "amqp", "nameko")}
    stream = io.StringIO()

    def configure_into_stream(*args, **kwargs):
        configure_logging(*args, **kwargs)
        (handler,) = root.handlers
        assert handler.stream is sys.stderr
        handler.setStream(stream)
        return stream

    yield configure_into_stream
    root.handlers[:] = saved_handlers
    root.setLevel(saved_level)
    for name, level in noisy.items():
        logging.getLogger(name).setLevel(level)


def test_json_logs_are_one_object_per_line_with_ids_and_no_phone(configure, log_context):
    stream = configure("intake", level="INFO", json=True)
    log = logging.getLogger("jiesu.test")

    log.info("filed by %s", PHONE)
    log.warning(f"callback {PHONE} failed")

    output = stream.getvalue()
    lines = output.splitlines()
    assert len(lines) == 2
    entries = [json.loads(line) for line in lines]
    for entry in entries:
        assert entry["correlation_id"] == "corr-42"
        assert entry["complaint_id"] == "c-7"
        assert entry["service"] == "intake"
    assert entries[0]["message"] == f"filed by {MASKED}"
    assert entries[1]["level"] == "WARNING"
    assert PHONE not in output


def test_configure_logging_honours_the_level(configure):
    stream = configure("sla", level="WARNING", json=True)

    logging.getLogger("jiesu.test").info("not shown")

    assert stream.getvalue() == ""


def test_plain_text_logs_also_carry_the_ids_and_mask_phones(configure, log_context):
    stream = configure("notify", level="INFO", json=False)

    logging.getLogger("jiesu.test").info("sms to %s", PHONE)

    line = stream.getvalue()
    assert "notify [corr-42 c-7]" in line
    assert MASKED in line and PHONE not in line


# ------------------------------------------------------- X5: nothing in a record escapes
LANDLINE, LANDLINE_MASKED = "0531-88117897", "0531-****7897"


def test_landlines_in_the_message_are_masked_too():
    rec = record("callback %s or %s", LANDLINE, "136 5555 4321")

    ContextFilter("intake").filter(rec)

    assert rec.getMessage() == f"callback {LANDLINE_MASKED} or 136****4321"


def _sql_error():
    """A real SQLAlchemy error whose text carries the statement's parameters."""
    from sqlalchemy import create_engine, text

    engine = create_engine("sqlite://")
    with engine.connect() as conn:
        conn.execute(text("CREATE TABLE t (phone TEXT UNIQUE)"))
        conn.execute(text("INSERT INTO t VALUES (:p)"), {"p": PHONE})
        try:
            conn.execute(text("INSERT INTO t VALUES (:p)"), {"p": PHONE})
        except Exception as exc:  # IntegrityError
            return exc
    raise AssertionError("no error")


@pytest.mark.parametrize("as_json", [True, False])
def test_exception_text_and_sql_parameters_are_masked(configure, as_json):
    stream = configure("intake", level="INFO", json=as_json)
    error = _sql_error()
    assert PHONE in str(error)  # the parameters are in the exception's own text

    try:
        raise RuntimeError(f"callback {LANDLINE} failed") from error
    except RuntimeError:
        logging.getLogger("jiesu.test").exception("filing failed")

    output = stream.getvalue()
    assert "IntegrityError" in output and "RuntimeError" in output  # the traceback is kept
    assert MASKED in output and LANDLINE_MASKED in output
    assert PHONE not in output and "88117897" not in output


def test_stack_info_and_extra_fields_are_masked(configure):
    stream = configure("notify", level="INFO", json=True)

    logging.getLogger("jiesu.test").warning(
        "sms failed", stack_info=True,
        extra={"phone": PHONE, "body": {"to": [LANDLINE]}, "number": 13912345678, "n": 3})

    output = stream.getvalue()
    entry = json.loads(output)
    assert entry["phone"] == MASKED
    assert entry["body"] == {"to": [LANDLINE_MASKED]}
    assert entry["number"] == MASKED and entry["n"] == 3
    assert PHONE not in output and "88117897" not in output


def test_a_record_that_reaches_two_handlers_is_masked_once_and_stays_readable():
    rec = record("callback %s", PHONE)
    try:
        raise ValueError(PHONE)
    except ValueError:
        import sys as _sys
        rec.exc_info = _sys.exc_info()

    ContextFilter("intake").filter(rec)
    ContextFilter("intake").filter(rec)

    text = logging.Formatter().format(rec)
    assert MASKED in text and "ValueError" in text and PHONE not in text
