"""The book's five-step scikit-learn pipeline (Machine Learning Engineering on AWS, ch. 10).

Written with the kfp 1.x function API exactly as the book does; the only change is that the
dataset location is a pipeline parameter (default: the CSV shipped with Pinnace, so the
example runs offline; a URL works too: -p dataset_url=https://...).

    pinnace run examples/basic_pipeline.py
"""

from pinnace import compiler, dsl
from pinnace.components import InputPath, OutputPath, create_component_from_func
from pinnace.data import SALARY_CSV


def download_dataset(dataset_url: str, df_all_data_path: OutputPath(str)):
    import pandas as pd

    df_all_data = pd.read_csv(dataset_url)
    print(df_all_data)
    df_all_data.to_csv(df_all_data_path, header=True, index=False)


def process_data(
    df_all_data_path: InputPath(str),
    df_training_data_path: OutputPath(str),
    df_test_data_path: OutputPath(str),
):
    import pandas as pd
    from sklearn.model_selection import train_test_split

    df_all_data = pd.read_csv(df_all_data_path)
    print(df_all_data)
    mem = "management_experience_months"
    ms = "monthly_salary"
    X = df_all_data[mem].values
    y = df_all_data[ms].values
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.3, random_state=0)
    df_training_data = pd.DataFrame({mem: X_train, ms: y_train})
    df_training_data.to_csv(df_training_data_path, header=True, index=False)
    df_test_data = pd.DataFrame({mem: X_test, ms: y_test})
    df_test_data.to_csv(df_test_data_path, header=True, index=False)


def train_model(df_training_data_path: InputPath(str), model_path: OutputPath(str)):
    import pandas as pd
    from joblib import dump
    from sklearn.linear_model import LinearRegression

    df_training_data = pd.read_csv(df_training_data_path)
    print(df_training_data)
    mem = "management_experience_months"
    X_train = df_training_data[mem].values
    ms = "monthly_salary"
    y_train = df_training_data[ms].values
    model = LinearRegression().fit(X_train.reshape(-1, 1), y_train)
    print(model)
    dump(model, model_path)


def evaluate_model(model_path: InputPath(str), df_test_data_path: InputPath(str)):
    import pandas as pd
    from joblib import load

    df_test_data = pd.read_csv(df_test_data_path)
    mem = "management_experience_months"
    ms = "monthly_salary"
    X_test = df_test_data[mem].values
    y_test = df_test_data[ms].values
    model = load(model_path)
    print(model.score(X_test.reshape(-1, 1), y_test))


def perform_sample_prediction(model_path: InputPath(str)):
    from joblib import load

    model = load(model_path)
    print(model.predict([[42]])[0])


download_dataset_op = create_component_from_func(
    download_dataset, packages_to_install=["pandas"]
)
process_data_op = create_component_from_func(
    process_data, packages_to_install=["pandas", "sklearn"]
)
train_model_op = create_component_from_func(
    train_model, packages_to_install=["pandas", "sklearn", "joblib"]
)
evaluate_model_op = create_component_from_func(
    evaluate_model, packages_to_install=["pandas", "joblib", "sklearn"]
)
perform_sample_prediction_op = create_component_from_func(
    perform_sample_prediction, packages_to_install=["joblib", "sklearn"]
)


@dsl.pipeline(name="Basic pipeline", description="Basic pipeline")
def basic_pipeline(dataset_url: str = str(SALARY_CSV)):
    DOWNLOAD_DATASET = download_dataset_op(dataset_url)
    PROCESS_DATA = process_data_op(DOWNLOAD_DATASET.output)
    TRAIN_MODEL = train_model_op(PROCESS_DATA.outputs["df_training_data"])
    EVALUATE_MODEL = evaluate_model_op(
        TRAIN_MODEL.outputs["model"], PROCESS_DATA.outputs["df_test_data"]
    )
    PERFORM_SAMPLE_PREDICTION = perform_sample_prediction_op(TRAIN_MODEL.outputs["model"])
    PERFORM_SAMPLE_PREDICTION.after(EVALUATE_MODEL)


if __name__ == "__main__":
    compiler.Compiler().compile(basic_pipeline, "basic_pipeline_v2.yaml")
