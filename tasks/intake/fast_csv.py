"""The fast path for a clean CSV file: COPY lines built for a batch of rows at a time.

Per-row Python work is what limits intake, so this path does per batch what the careful path does per row:
``csv.reader`` rows go through a JSON template filled by the C string encoder that ``json.dumps`` uses (the
same bytes), slices are handed out a microtask at a time, and the checks run over whole batches. It never
reports an error itself: on anything unusual (a bad row, an id with a tab, a gold answer to check, a row near
the size limit) it raises GiveUp, the caller rolls back, and the careful path redoes the file.
"""

import csv
import io
from itertools import islice, repeat
from json.encoder import encode_basestring
from operator import itemgetter

from .errors import IntakeError
from .readers import check_header
from .rows import parse_gold, to_json

BATCH = 10_000


class GiveUp(Exception):
    """The fast path is not sure of this file; the careful path must take it."""


def copy_fast_csv(load, copy) -> None:
    from .loading import NULL, columns_note

    rules = load.rules
    csv.field_size_limit(load.max_row)
    with open(load.path, "rb") as raw:
        text = io.TextIOWrapper(raw, encoding="utf-8-sig", newline="", errors="strict")
        reader = csv.reader(text, strict=True)
        try:
            header = [h.strip() for h in next(reader)]
            check_header(header, load.filename)
        except (StopIteration, csv.Error, UnicodeDecodeError, IntakeError):
            raise GiveUp from None
        gold_field, id_field, text_field = rules.gold_field, rules.id_field, rules.text_field
        if (text_field and text_field not in header) or gold_field in (id_field, text_field):
            raise GiveUp
        # Forms with several questions, media to look up, and types with their own row checks take the careful path.
        if (
            not rules.form.single
            or rules.form.media_blocks()
            or rules.form.checks_rows
            or set(rules.display_columns) - set(header)
        ):
            raise GiveUp
        width = len(header)
        gold_i = header.index(gold_field) if gold_field in header else None
        data_i = [i for i in range(width) if i != gold_i]
        if not data_i or len(load.columns.keys() | {header[i] for i in data_i}) > load.max_columns:
            raise GiveUp
        id_i = header.index(id_field) if id_field in header else None
        # '{"id":%s,"text":%s}': keys encoded once; each value by the encoder json.dumps uses.
        template = "{" + ",".join(encode_basestring(header[i]).replace("%", "%%") + ":%s" for i in data_i) + "}"
        pick = itemgetter(*data_i)
        single = data_i[0] if len(data_i) == 1 else None
        options = set(rules.options)
        # A type whose known answer is one of its options as written is checked here by set membership.
        choice = rules.form.questions[0].plugin.gold_is_an_option
        prefix, slicer = load.prefix, load.slicer

        while True:
            try:
                batch = list(islice(reader, BATCH))
            except (csv.Error, UnicodeDecodeError):
                raise GiveUp from None
            if not batch:
                return
            if any(len(row) != width for row in batch):
                batch = [row for row in batch if row]  # blank lines are skipped, as the careful path does
                if any(len(row) != width for row in batch):
                    raise GiveUp
                if not batch:
                    continue
            n = len(batch)
            if load.position + n > load.limit:
                raise GiveUp
            if single is not None:
                jsons = [template % encode_basestring(row[single]) for row in batch]
            elif gold_i is None:
                jsons = [template % tuple(map(encode_basestring, row)) for row in batch]
            else:
                jsons = [template % tuple(map(encode_basestring, pick(row))) for row in batch]
            joined = "".join(jsons)
            if "\\" in joined:
                # Backslashes are doubled for COPY's text format; JSON holds no raw tab, newline or CR. NUL cannot
                # be stored in jsonb (a literal backslash-u0000 lands here too, and the careful path tells them apart).
                if "\\u0000" in joined:
                    raise GiveUp
                jsons = [j.replace("\\", "\\\\") for j in jsons]
            if id_i is None:
                ids = repeat(NULL)
            else:
                ids = [row[id_i] for row in batch]
                joined = "".join(ids)
                # An id that needs escaping for COPY is rare enough to leave to the careful path.
                if max(map(len, ids)) > 200 or any(c in joined for c in "\\\t\n\r"):
                    raise GiveUp
            golds = [row[gold_i] for row in batch] if gold_i is not None else ()
            longest = max(map(len, jsons)) + (max(map(len, golds)) if golds else 0)
            # The JSON text is at least as long as the row's values, so this never passes a row that is too long.
            # A character is 1 to 4 bytes: the bytes are counted only when the characters leave it open.
            if longest * 4 > load.max_row:
                gold_bytes = max((len(g.encode()) for g in golds), default=0)
                if max(len(j.encode()) for j in jsons) + gold_bytes > load.max_row:
                    raise GiveUp
            start = load.position
            if any(golds):
                mt, gold_json = [], []
                for value in golds:
                    if value:
                        if choice:
                            if value not in options:
                                raise GiveUp
                            gold_json.append(encode_basestring(value).replace("\\", "\\\\"))
                        else:
                            try:
                                value = to_json(parse_gold(rules, 0, value), rules, 0)
                            except IntakeError:
                                raise GiveUp from None
                            gold_json.append(value.replace("\\", "\\\\"))
                        mt.append(slicer.place(True))
                        load.gold_items += 1
                    else:
                        gold_json.append(NULL)
                        mt.append(slicer.place(False))
                lines = [
                    f"{prefix}{pos}\t{m}\t{i}\t{j}\t{g}\n"
                    for pos, m, i, j, g in zip(range(start, start + n), mt, ids, jsons, gold_json, strict=False)
                ]
            else:
                mt = slicer.place_run(n)
                lines = [
                    f"{prefix}{pos}\t{m}\t{i}\t{j}\t\\N\n"
                    for pos, m, i, j in zip(range(start, start + n), mt, ids, jsons, strict=False)
                ]
            copy.write("".join(lines))
            if load.rows == 0:
                columns_note(load, (header[i] for i in data_i), 2)
            load.advance(n)
