"""read_table: CSV and JSON Lines in, or an error that says exactly what is wrong."""

from __future__ import annotations

import csv
import json

import pytest

from triage.data import DataError, read_table

RECORDS = [
    {"complaint_id": "007", "text": "信用卡被盗刷了，银行不管", "category": "资金安全"},
    {"complaint_id": "008", "text": "催收电话打到单位，\"爆通讯录\"", "category": "催收行为"},
    {"complaint_id": "009", "text": "NA", "category": "其他"},
]


def write_csv(path, records, fields=None):
    fields = fields or list(records[0])
    with path.open("w", encoding="utf-8", newline="") as out:
        writer = csv.DictWriter(out, fieldnames=fields)
        writer.writeheader()
        writer.writerows(records)
    return path


def write_jsonl(path, records):
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")
    return path


def test_read_csv(tmp_path):
    frame = read_table(write_csv(tmp_path / "c.csv", RECORDS), ["text", "category"])
    assert len(frame) == 3
    assert list(frame.columns) == ["complaint_id", "text", "category"]
    assert frame["text"].tolist() == [r["text"] for r in RECORDS]
    assert frame["complaint_id"].tolist() == ["007", "008", "009"]  # read as text, leading zeros kept
    assert frame.loc[2, "text"] == "NA"  # not turned into a missing value


def test_read_jsonl(tmp_path):
    frame = read_table(write_jsonl(tmp_path / "c.jsonl", RECORDS), ["text", "category"])
    assert len(frame) == 3
    assert frame["text"].tolist() == [r["text"] for r in RECORDS]
    assert frame["category"].tolist() == ["资金安全", "催收行为", "其他"]
    assert frame["complaint_id"].tolist() == ["007", "008", "009"]


def test_read_ndjson_suffix_is_lines_too(tmp_path):
    frame = read_table(write_jsonl(tmp_path / "c.NDJSON", RECORDS), ["text"])
    assert len(frame) == 3


@pytest.mark.parametrize("suffix", ["csv", "jsonl"])
def test_missing_column_names_it_and_the_columns_found(tmp_path, suffix):
    records = [{k: v for k, v in r.items() if k != "category"} for r in RECORDS]
    path = tmp_path / f"c.{suffix}"
    write_csv(path, records) if suffix == "csv" else write_jsonl(path, records)
    with pytest.raises(DataError) as info:
        read_table(path, ["text", "category"])
    message = str(info.value)
    assert "category" in message
    assert "complaint_id" in message and "text" in message  # the columns that are there
    assert str(path) in message


def test_several_missing_columns_are_all_named(tmp_path):
    path = write_csv(tmp_path / "c.csv", [{"id": "1", "body": "x"}])
    with pytest.raises(DataError) as info:
        read_table(path, ["text", "category"])
    message = str(info.value)
    assert "text" in message and "category" in message
    assert "id" in message and "body" in message


def test_empty_text_cell_in_csv_names_the_line(tmp_path):
    records = [dict(r) for r in RECORDS]
    records[1]["text"] = ""
    path = write_csv(tmp_path / "c.csv", records)
    with pytest.raises(DataError) as info:
        read_table(path, ["text"])
    message = str(info.value)
    assert "'text'" in message
    assert "data row 2" in message  # rows, not file lines: CSV cells may hold line breaks


def test_whitespace_only_text_cell_in_csv_is_empty_too(tmp_path):
    records = [dict(r) for r in RECORDS]
    records[2]["text"] = "   "
    with pytest.raises(DataError) as info:
        read_table(write_csv(tmp_path / "c.csv", records), ["text"])
    assert "data row 3" in str(info.value)


@pytest.mark.parametrize("empty", ["", None, "  "])
def test_empty_text_in_jsonl_names_the_line(tmp_path, empty):
    records = [dict(r) for r in RECORDS]
    records[2]["text"] = empty
    with pytest.raises(DataError) as info:
        read_table(write_jsonl(tmp_path / "c.jsonl", records), ["text"])
    message = str(info.value)
    assert "'text'" in message and "line 3" in message


def test_only_required_columns_are_checked_for_blanks(tmp_path):
    records = [dict(r) for r in RECORDS]
    records[0]["category"] = ""
    frame = read_table(write_csv(tmp_path / "c.csv", records), ["text"])
    assert len(frame) == 3


@pytest.mark.parametrize("name", ["c.xlsx", "c.txt", "complaints"])
def test_unknown_suffix_raises(tmp_path, name):
    path = tmp_path / name
    path.write_text("text\n投诉\n", encoding="utf-8")
    with pytest.raises(DataError) as info:
        read_table(path, ["text"])
    assert "unknown format" in str(info.value)


def test_missing_file_raises(tmp_path):
    with pytest.raises(DataError) as info:
        read_table(tmp_path / "nope.csv", ["text"])
    assert "no such file" in str(info.value)


def test_malformed_jsonl_raises_data_error(tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_text('{"text": "好的"}\n{"text": 没有引号}\n', encoding="utf-8")
    with pytest.raises(DataError) as info:
        read_table(path, ["text"])
    assert "bad.jsonl:2: not valid JSON" in str(info.value)


def test_data_error_is_a_value_error():
    assert issubclass(DataError, ValueError)


def test_jsonl_line_numbers_count_blank_lines(tmp_path):
    path = tmp_path / "c.jsonl"
    path.write_text('{"text": "a"}\n\n{"text": ""}\n', encoding="utf-8")
    with pytest.raises(DataError, match="line 3"):
        read_table(path, ["text"])


def test_csv_row_numbers_survive_line_breaks_inside_cells(tmp_path):
    path = write_csv(tmp_path / "c.csv", [{"text": "第一行\n第二行"}, {"text": ""}])
    with pytest.raises(DataError, match="data row 2"):
        read_table(path, ["text"])


def test_bad_json_names_the_line(tmp_path):
    path = tmp_path / "c.jsonl"
    path.write_text('{"text": "a"}\n{"text": \n', encoding="utf-8")
    with pytest.raises(DataError, match=r"c\.jsonl:2: not valid JSON"):
        read_table(path, ["text"])
