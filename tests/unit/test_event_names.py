"""Event-name matching (dbt_project/macros/event_names.sql), rendered offline with Jinja as dbt does.

Every macro runs in its own template with the others in its context, and ``return()`` raises
what the calling macro receives: dbt's own calling convention, so the macros are tested as dbt
runs them, without a warehouse. The SQL side (the same keys computed by PostgreSQL, and an
``order_completed`` event counted as an order) is tested in
tests/integration/test_event_names_marts.py.
"""

from __future__ import annotations

import re
from typing import Any

import jinja2
import pytest

from nexus_pipelines.lib.config import PROJECT_ROOT

MACROS = PROJECT_ROOT / "dbt_project" / "macros"
_MACRO = re.compile(r"\{%-?\s*macro\s+(\w+)\(.*?\{%-?\s*endmacro\s*-?%\}", re.S)

# Segment e-commerce spec v2 (segment-docs, src/connections/spec/ecommerce/v2.md), every event
# of its lifecycle tables
SPEC_V2 = [
    "Products Searched",
    "Product List Viewed",
    "Product List Filtered",
    "Promotion Viewed",
    "Promotion Clicked",
    "Product Clicked",
    "Product Viewed",
    "Product Added",
    "Product Removed",
    "Cart Viewed",
    "Checkout Started",
    "Checkout Step Viewed",
    "Checkout Step Completed",
    "Payment Info Entered",
    "Order Completed",
    "Order Updated",
    "Order Refunded",
    "Order Cancelled",
    "Coupon Entered",
    "Coupon Applied",
    "Coupon Denied",
    "Coupon Removed",
    "Product Added to Wishlist",
    "Product Removed from Wishlist",
    "Wishlist Product Added to Cart",
    "Product Shared",
    "Cart Shared",
    "Product Reviewed",
]


class _Return(Exception):  # dbt's MacroReturn: carries a value, not an error
    def __init__(self, value: Any):
        self.value = value


class CompilerError(Exception):
    pass


def _return(value: Any) -> None:
    raise _Return(value)


def _raise_compiler_error(message: str) -> None:
    raise CompilerError(message)


class Macros:
    """The project's macros with the given vars; ``macros.name(...)`` calls one as dbt would."""

    def __init__(self, variables: dict | None = None):
        self.env = jinja2.Environment(extensions=["jinja2.ext.do"])
        self.sources = {
            match[1]: match[0]
            for path in ("event_names.sql", "product_events.sql")
            for match in _MACRO.finditer((MACROS / path).read_text())
        }
        values = variables or {}
        self.context: dict[str, Any] = {
            "var": lambda name, default=None: values.get(name, default),
            "return": _return,
            "exceptions": type(
                "exceptions", (), {"raise_compiler_error": staticmethod(_raise_compiler_error)}
            ),
            "modules": type("modules", (), {"re": re}),
        }
        self.templates = {name: self.env.from_string(source) for name, source in self.sources.items()}
        for name in self.sources:
            self.context[name] = self._caller(name)

    def _caller(self, name: str):
        def call(*args, **kwargs):
            module = self.templates[name].make_module(vars=self.context)
            try:
                return getattr(module, name)(*args, **kwargs)
            except _Return as returned:
                return returned.value

        return call

    def __getattr__(self, name: str):
        return self.context[name]


SPELLINGS = [
    "Order Completed",
    "order_completed",
    "order-completed",
    "ORDER COMPLETED",
    "orderCompleted",
    "OrderCompleted",
    "order.completed",
    " Order  Completed ",
]


def test_every_spelling_of_a_spec_name_has_its_key_and_reads_as_the_spec_name():
    macros = Macros()
    assert {macros.nexus_event_key(name) for name in SPELLINGS} == {"ordercompleted"}
    assert {macros.nexus_canonical_event_name(name) for name in SPELLINGS} == {"Order Completed"}
    assert macros.nexus_canonical_event_name("checkout_step_viewed") == "Checkout Step Viewed"
    assert macros.nexus_canonical_event_name("product-added-to-wishlist") == "Product Added to Wishlist"


def test_only_ascii_letters_are_lower_cased_and_only_space_underscore_dash_dot_dropped():
    macros = Macros()
    assert macros.nexus_event_key("Commande Réglée") == "commanderéglée"
    assert macros.nexus_event_key("Step 2/3: Paid!") == "step2/3:paid!"
    assert macros.nexus_canonical_event_name("Signed Up") == "Signed Up"  # not a spec name: as written
    assert macros.nexus_canonical_event_name("Order Completed 2") == "Order Completed 2"


def test_the_built_in_mapping_is_the_v2_spec_and_its_v1_aliases():
    macros = Macros()
    mapping = macros.nexus_event_name_map()
    assert macros.nexus_spec_event_names() == SPEC_V2
    spec_keys = {name.lower().replace(" ", ""): name for name in SPEC_V2}  # no _ - . in these names
    assert {key: mapping[key] for key in spec_keys} == spec_keys
    assert {key: name for key, name in mapping.items() if key not in spec_keys} == {
        "viewedproductcategory": "Product List Viewed",
        "viewedpromotion": "Promotion Viewed",
        "clickedpromotion": "Promotion Clicked",
        "clickedproduct": "Product Clicked",
    }


def test_own_aliases_match_in_any_spelling_and_their_targets_are_canonical():
    macros = Macros({"event_name_aliases": {"purchase": "order_completed", "Sign-Up": "Signed Up"}})
    assert macros.nexus_canonical_event_name("PURCHASE") == "Order Completed"
    assert macros.nexus_canonical_event_name("purchase") == "Order Completed"
    assert macros.nexus_canonical_event_name("sign_up") == "Signed Up"
    assert macros.nexus_canonical_event_name("signup") == "Signed Up"
    # a spec name stays itself
    assert macros.nexus_canonical_event_name("order completed") == "Order Completed"


@pytest.mark.parametrize(
    ("aliases", "message"),
    [
        (
            {"order_completed": "Purchase"},
            "'order_completed' is the spec event 'Order Completed', which cannot be re-mapped",
        ),
        (
            {"Purchase": "Order Completed", "purchase": "Checkout Started"},
            "'purchase' and 'Purchase' are the same name (case, spaces, _ - . aside) with different targets",
        ),
        ({"purchase": 3}, "'purchase': '3' must be two event names (text)"),
        ({"___": "Order Completed"}, "'___': 'Order Completed' must be two event names (text)"),
        (["purchase"], "event_name_aliases must map each alias to an event name"),
    ],
)
def test_a_wrong_alias_stops_compilation_naming_it(aliases, message):
    with pytest.raises(CompilerError) as info:
        Macros({"event_name_aliases": aliases}).nexus_event_name_map()
    assert message in str(info.value)


def test_an_alias_naming_the_spec_name_itself_is_allowed():
    macros = Macros({"event_name_aliases": {"ORDER_COMPLETED": "Order Completed"}})
    assert macros.nexus_canonical_event_name("order-completed") == "Order Completed"


def test_the_sql_key_lower_cases_ascii_only_and_drops_the_separators():
    # PostgreSQL computes the same keys as nexus_event_key: tests/integration/test_event_inputs.py
    assert Macros().nexus_event_key_sql("e.event_name") == (
        "lower(replace(replace(replace(replace(e.event_name, ' ', ''), '_', ''), '-', ''), '.', '') collate \"C\")"
    )


def test_the_sql_canonical_name_keeps_canonical_names_and_looks_others_up_by_key():
    macros = Macros({"event_name_aliases": {"purchase": "Order Completed", "signup": "Signed Up"}})
    sql = " ".join(macros.nexus_canonical_event_name_sql("e.event_name").split())
    kept = ", ".join(f"'{name}'" for name in sorted([*SPEC_V2, "Signed Up"]))
    key = macros.nexus_event_key_sql("e.event_name")
    assert sql.startswith(f"case when e.event_name in ({kept}) then e.event_name else coalesce('{{")
    assert sql.endswith(f"}}'::jsonb ->> {key}, e.event_name) end")
    assert '"purchase": "Order Completed"' in sql and '"ordercompleted": "Order Completed"' in sql
    assert '"signup": "Signed Up"' in sql


def test_names_given_in_the_project_match_by_the_key_of_their_canonical_name():
    macros = Macros({"event_name_aliases": {"purchase": "Order Completed"}})
    key = macros.nexus_event_key_sql("event_name")
    assert macros.nexus_event_name_in("event_name", "purchase") == f"{key} = 'ordercompleted'"
    assert (
        macros.nexus_event_name_in("event_name", ["Order Refunded", "order_refunded", "Signed Up"])
        == f"{key} in ('orderrefunded', 'signedup')"
    )
