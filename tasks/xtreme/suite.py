"""The XTREME benchmark (Hu et al. 2020): nine tasks, four groups, score = mean of the nine task scores."""

from harness.spec import Suite

SUITE = Suite(
    name="xtreme",
    tasks=("xnli", "pawsx", "udpos", "panx", "xquad", "mlqa", "tydiqa", "bucc2018", "tatoeba"),
    groups={
        "classification": ("pawsx", "xnli"),
        "structured_prediction": ("udpos", "panx"),
        "qa": ("xquad", "mlqa", "tydiqa"),
        "retrieval": ("bucc2018", "tatoeba"),
    },
    overall="mean_of_tasks",
    description="XTREME (Hu et al. 2020): the official score is defined only when all nine tasks are present",
)
