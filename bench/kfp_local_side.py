"""The bench pipelines for `kfp.local`, run inside the kfp 2.x side venv (never by Pinnace).

    python kfp_local_side.py book|chain|fanout --root DIR [--use-venv] [--csv PATH] [--n 20]

Prints one JSON line last: {"mode", "seconds" (the pipeline call alone), "import_seconds",
"error"}. The book pipeline is examples/basic_pipeline.py rewritten for kfp 2.x artifacts.
"""

# No `from __future__ import annotations`: kfp reads the annotations as real types.
import argparse
import json
import sys
import time
import traceback

_STARTED = time.perf_counter()
from kfp import dsl, local  # noqa: E402
from kfp.dsl import Dataset, Input, Model, Output  # noqa: E402

_IMPORTED = time.perf_counter()


@dsl.component(packages_to_install=["pandas"])
def download_dataset(dataset_url: str, df_all_data: Output[Dataset]):
    import pandas as pd

    data = pd.read_csv(dataset_url)
    print(data)
    data.to_csv(df_all_data.path, header=True, index=False)


@dsl.component(packages_to_install=["pandas", "scikit-learn"])
def process_data(
    df_all_data: Input[Dataset], df_training_data: Output[Dataset], df_test_data: Output[Dataset]
):
    import pandas as pd
    from sklearn.model_selection import train_test_split

    data = pd.read_csv(df_all_data.path)
    print(data)
    mem = "management_experience_months"
    ms = "monthly_salary"
    X = data[mem].values
    y = data[ms].values
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.3, random_state=0)
    pd.DataFrame({mem: X_train, ms: y_train}).to_csv(df_training_data.path, index=False)
    pd.DataFrame({mem: X_test, ms: y_test}).to_csv(df_test_data.path, index=False)


@dsl.component(packages_to_install=["pandas", "scikit-learn", "joblib"])
def train_model(df_training_data: Input[Dataset], model: Output[Model]):
    import pandas as pd
    from joblib import dump
    from sklearn.linear_model import LinearRegression

    data = pd.read_csv(df_training_data.path)
    print(data)
    X_train = data["management_experience_months"].values
    y_train = data["monthly_salary"].values
    fitted = LinearRegression().fit(X_train.reshape(-1, 1), y_train)
    print(fitted)
    dump(fitted, model.path)


@dsl.component(packages_to_install=["pandas", "joblib", "scikit-learn"])
def evaluate_model(model: Input[Model], df_test_data: Input[Dataset]):
    import pandas as pd
    from joblib import load

    data = pd.read_csv(df_test_data.path)
    X_test = data["management_experience_months"].values
    y_test = data["monthly_salary"].values
    print(load(model.path).score(X_test.reshape(-1, 1), y_test))


@dsl.component(packages_to_install=["joblib", "scikit-learn"])
def perform_sample_prediction(model: Input[Model]):
    from joblib import load

    print(load(model.path).predict([[42]])[0])


@dsl.pipeline(name="basic-pipeline")
def book(dataset_url: str):
    download = download_dataset(dataset_url=dataset_url)
    process = process_data(df_all_data=download.outputs["df_all_data"])
    train = train_model(df_training_data=process.outputs["df_training_data"])
    evaluate = evaluate_model(
        model=train.outputs["model"], df_test_data=process.outputs["df_test_data"]
    )
    predict = perform_sample_prediction(model=train.outputs["model"])
    predict.after(evaluate)


@dsl.component
def step(x: int) -> int:
    return x + 1


def make_chain(n: int):
    @dsl.pipeline(name="chain")
    def chain(x: int = 0):
        task = step(x=x)
        for _ in range(n - 1):
            task = step(x=task.output)

    return chain


def make_fanout(n: int):
    @dsl.pipeline(name="fanout")
    def fanout(x: int = 0):
        for _ in range(n):
            step(x=x)

    return fanout


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("mode", choices=["book", "chain", "fanout"])
    parser.add_argument("--root", required=True)
    parser.add_argument("--use-venv", action="store_true")
    parser.add_argument("--csv", default="")
    parser.add_argument("--n", type=int, default=20)
    args = parser.parse_args()
    local.init(runner=local.SubprocessRunner(use_venv=args.use_venv), pipeline_root=args.root)
    result = {
        "mode": args.mode,
        "use_venv": args.use_venv,
        "import_seconds": _IMPORTED - _STARTED,
        "error": None,
    }
    started = time.perf_counter()
    try:
        if args.mode == "book":
            book(dataset_url=args.csv)
        elif args.mode == "chain":
            make_chain(args.n)(x=0)
        else:
            make_fanout(args.n)(x=0)
    except Exception as exc:  # the benchmark reports kfp.local's failure instead of dying
        traceback.print_exc()
        result["error"] = f"{type(exc).__name__}: {exc}"[-2000:]
    result["seconds"] = time.perf_counter() - started
    print(json.dumps(result), flush=True)
    return 0 if result["error"] is None else 1


if __name__ == "__main__":
    sys.exit(main())
