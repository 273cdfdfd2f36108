"""A reproducible, realistic synthetic auto-loan portfolio for demos, tests and benchmarks."""

from huifang.demo.generator import (
    ARCHETYPES,
    DemoLoan,
    DemoPortfolio,
    generate,
    loan_terms,
)

__all__ = ["ARCHETYPES", "DemoLoan", "DemoPortfolio", "generate", "loan_terms"]
