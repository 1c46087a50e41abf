"""The book example's expected numbers, derived rather than stored.

The score and the prediction depend on the pandas and scikit-learn builds a task's
environment got from the package index; the tests compute them again here with that very
interpreter, on the same CSV, so they check the pipeline, not a library's release.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from pinnace.backend import open_backend
from pinnace.data import SALARY_CSV
from pinnace.settings import Settings

#: the book's computation, run here with the interpreter (and so the pandas and scikit-learn
#: builds) of the task's own environment, on the same CSV: prints R² and the 42-month prediction
REFERENCE = """
import io, sys
import pandas as pd
from sklearn.linear_model import LinearRegression
from sklearn.model_selection import train_test_split

def round_trip(frame):  # the tasks hand data to each other as CSV files
    text = io.StringIO()
    frame.to_csv(text, header=True, index=False)
    return pd.read_csv(io.StringIO(text.getvalue()))

data = round_trip(pd.read_csv(sys.argv[1]))
mem, ms = "management_experience_months", "monthly_salary"
X_train, X_test, y_train, y_test = train_test_split(
    data[mem].values, data[ms].values, test_size=0.3, random_state=0
)
train = round_trip(pd.DataFrame({mem: X_train, ms: y_train}))
test = round_trip(pd.DataFrame({mem: X_test, ms: y_test}))
model = LinearRegression().fit(train[mem].values.reshape(-1, 1), train[ms].values)
print(model.score(test[mem].values.reshape(-1, 1), test[ms].values))
print(model.predict([[42]])[0])
"""


def book_numbers(home: Path, run_id: str) -> tuple[float, float]:
    """R² and the 42-month prediction, computed with evaluate-model's own interpreter."""
    backend = open_backend(Settings.load(env={}, home=home), settle=False)
    try:
        executions = backend.metadata.list_executions(run_id)
    finally:
        backend.close()
    python = next(e for e in executions if e.task_name == "evaluate-model").environment["python"]
    done = subprocess.run(
        [python, "-c", REFERENCE, str(SALARY_CSV)], capture_output=True, text=True, check=True
    )
    score, prediction = (float(v) for v in done.stdout.split())
    return score, prediction
