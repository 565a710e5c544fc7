"""Check an ONNX file exported by `nnc export` against `nnc predict`'s predictions.

    python check.py MODEL.onnx DATA.csv PREDICTIONS.csv

The file must pass `onnx.checker` (full check, with shape inference). Each graph input is fed
from the CSV column of its name, as a serving caller would: numbers as float32 with NaN for a
missing cell, text trimmed with "" for a missing cell (nnc's missing markers: an empty cell,
NA, N/A, NaN, null, ?, in any case). ONNX Runtime's outputs are compared with the predictions
CSV: labels exactly, and every probability and value as numpy's `allclose` does by default,
within 1e-5 of nnc's relative plus 1e-8 absolute. (Two float32 engines that sum in different
orders disagree in the last bits of a logit; a probability below 1e-6, a difference of such
logits put through exp, then differs by some 1e-5 of itself, which the 1e-8 absolute allows.) Prints one JSON line with what it compared; exits 1 on any
disagreement.
"""

import csv
import json
import sys

import numpy as np
import onnx
import onnxruntime as ort

MARKERS = {"", "na", "n/a", "nan", "null", "?"}
RTOL, ATOL = 1e-5, 1e-8


def read_csv(path):
    with open(path, newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    return rows[0], rows[1:]


def feed(model, header, rows):
    inputs = {}
    for i in model.graph.input:
        column = header.index(i.name)
        cells = [r[column].strip() for r in rows]
        if i.type.tensor_type.elem_type == onnx.TensorProto.STRING:
            values = ["" if c.lower() in MARKERS else c for c in cells]
            inputs[i.name] = np.array(values, dtype=object).reshape(-1, 1)
        else:
            values = [np.nan if c.lower() in MARKERS else float(c) for c in cells]
            inputs[i.name] = np.array(values, dtype=np.float32).reshape(-1, 1)
    return inputs


def main(model_path, data_path, predictions_path):
    model = onnx.load(model_path)
    onnx.checker.check_model(model, full_check=True)
    header, rows = read_csv(data_path)
    session = ort.InferenceSession(model_path, providers=["CPUExecutionProvider"])
    names = [o.name for o in session.get_outputs()]
    outputs = dict(zip(names, session.run(None, feed(model, header, rows))))
    p_header, p_rows = read_csv(predictions_path)
    assert len(p_rows) == len(rows), (len(p_rows), len(rows))
    predicted = [r[1] for r in p_rows]
    report = {"rows": len(rows), "outputs": names}
    failures = []
    if "value" in outputs:
        got = outputs["value"].astype(np.float64).ravel()
        want = np.array([float(v) for v in predicted])
        compare("value", got, want, report, failures)
    else:
        labels = list(outputs["label"].ravel())
        mismatched = sum(a != b for a, b in zip(labels, predicted))
        report["label_mismatches"] = int(mismatched)
        if mismatched:
            failures.append(f"{mismatched} labels differ")
        want = np.array([[float(v) for v in r[2:]] for r in p_rows])
        got = outputs["probabilities"].astype(np.float64)
        assert got.shape == want.shape, (got.shape, want.shape)
        compare("probabilities", got, want, report, failures)
    report["ok"] = not failures
    print(json.dumps(report))
    if failures:
        print("; ".join(failures), file=sys.stderr)
        sys.exit(1)


def compare(name, got, want, report, failures):
    finite = np.isfinite(want)
    if not np.array_equal(finite, np.isfinite(got)):
        failures.append(f"{name}: NaN or infinity where the other has a number")
    diff = np.abs(got[finite] - want[finite])
    scale = np.maximum(np.abs(got[finite]), np.abs(want[finite]))
    relative = diff / np.maximum(scale, np.finfo(np.float64).tiny)
    report[f"{name}_max_abs"] = float(diff.max(initial=0.0))
    report[f"{name}_max_rel"] = float(relative.max(initial=0.0))
    report[f"{name}_max_rel_above_1e-6"] = float(relative[scale >= 1e-6].max(initial=0.0))
    bad = diff > ATOL + RTOL * np.abs(want[finite])
    if bad.any():
        failures.append(f"{name}: {int(bad.sum())} numbers differ by more than {RTOL} relative")


if __name__ == "__main__":
    main(*sys.argv[1:])
