"""`python -m pinnace.runtime` (or the copied `python -m pinnace_runtime`) runs one task."""

from .main import main

if __name__ == "__main__":
    main()
