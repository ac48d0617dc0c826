"""Cost and budgets: the Cost layer and its ledger (`layer`), prices from genai-prices
(`prices`, the `cost` extra), the `Pricer` both layers price with (`pricer`), the Budget
layer and its in-process backend (`budget`), and the Redis-shared backend (`redis_budget`,
imported only when used: it needs the `redis` extra)."""

from ashford_llm.middleware.cost.budget import Budget, BudgetBackend, BudgetHold, MemoryBudget
from ashford_llm.middleware.cost.layer import Cost, CostLedger
from ashford_llm.middleware.cost.pricer import Pricer

__all__ = [
    "Budget",
    "BudgetBackend",
    "BudgetHold",
    "Cost",
    "CostLedger",
    "MemoryBudget",
    "Pricer",
]
