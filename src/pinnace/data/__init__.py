"""Small data sets shipped with Pinnace for the examples and tests."""

from __future__ import annotations

from pathlib import Path

#: The book's sample data: management experience (months) and monthly salary, 19 rows.
SALARY_CSV = Path(__file__).resolve().parent / "management_experience_and_salary.csv"
