"""The demo seller: its Amazon stores and its product catalog.

The same catalog is sold in every Amazon store and in the seller's own web store. Each product
has a list price (USD), a share of demand drawn from a long tail, and a return probability; a
couple of products are planted as high-return products.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .params import HIGH_RETURN_MULTIPLIER, HIGH_RETURN_SKU_COUNT, RETURN_RATE_RANGE
from .streams import alphanumeric_codes, stream


@dataclass(frozen=True)
class Store:
    store_id: str
    name: str
    marketplace_id: str
    currency: str
    timezone: str
    utc_offsets: tuple[int, int]  # standard and daylight-saving offset from UTC, hours
    sales_channel: str
    ship_country: str
    order_id_prefix: str
    units_per_day: float  # expected units ordered per weekday at the start of the window
    price_factor: float  # local list price per USD of list price
    tax_ratio: float  # item-tax as a share of item-price
    fulfillment_centers: tuple[str, ...]
    addresses: tuple[tuple[str, str, str], ...]  # ship-city, ship-state, ship-postal-code

    @property
    def safe_utc_hours(self) -> tuple[int, int]:
        """UTC hours [start, end) whose timestamps fall on the same date in UTC and locally.

        Amazon timestamps are written in UTC; drawing them inside this window keeps the file
        date, the UTC date and the store's local date equal whatever time zone a reader uses.
        """
        return max(0, -min(self.utc_offsets)), min(24, 24 - max(self.utc_offsets))

    def as_yaml_entry(self) -> dict:
        return {
            "store_id": self.store_id,
            "name": self.name,
            "marketplace": self.marketplace_id,
            "currency": self.currency,
            "timezone": self.timezone,
        }


STORES: tuple[Store, ...] = (
    Store(
        store_id="store-us",
        name="Demo Outdoor Co. (US)",
        marketplace_id="ATVPDKIKX0DER",
        currency="USD",
        timezone="America/Los_Angeles",
        utc_offsets=(-8, -7),
        sales_channel="Amazon.com",
        ship_country="US",
        order_id_prefix="113",
        units_per_day=120.0,
        price_factor=1.0,
        tax_ratio=0.0725,
        fulfillment_centers=("ONT8", "PHX6", "BFI4", "MDW2", "JFK8"),
        addresses=(
            ("SEATTLE", "WA", "98101"),
            ("AUSTIN", "TX", "78701"),
            ("DENVER", "CO", "80202"),
            ("BROOKLYN", "NY", "11201"),
            ("PORTLAND", "OR", "97205"),
            ("CHICAGO", "IL", "60614"),
            ("SAN DIEGO", "CA", "92101"),
            ("BOULDER", "CO", "80302"),
            ("ATLANTA", "GA", "30303"),
            ("MINNEAPOLIS", "MN", "55401"),
        ),
    ),
    Store(
        store_id="store-de",
        name="Demo Outdoor Co. (DE)",
        marketplace_id="A1PA6795UKMFR9",
        currency="EUR",
        timezone="Europe/Berlin",
        utc_offsets=(1, 2),
        sales_channel="Amazon.de",
        ship_country="DE",
        order_id_prefix="302",
        units_per_day=70.0,
        price_factor=0.95,
        tax_ratio=0.1597,
        fulfillment_centers=("LEJ1", "FRA7", "DUS2", "MUC3"),
        addresses=(
            ("Berlin", "Berlin", "10115"),
            ("München", "Bayern", "80331"),
            ("Hamburg", "Hamburg", "20095"),
            ("Köln", "Nordrhein-Westfalen", "50667"),
            ("Leipzig", "Sachsen", "04109"),
            ("Freiburg im Breisgau", "Baden-Württemberg", "79098"),
            ("Dresden", "Sachsen", "01067"),
            ("Stuttgart", "Baden-Württemberg", "70173"),
        ),
    ),
    Store(
        store_id="store-uk",
        name="Demo Outdoor Co. (UK)",
        marketplace_id="A1F83G8C2ARO7P",
        currency="GBP",
        timezone="Europe/London",
        utc_offsets=(0, 1),
        sales_channel="Amazon.co.uk",
        ship_country="GB",
        order_id_prefix="203",
        units_per_day=55.0,
        price_factor=0.8,
        tax_ratio=0.1667,
        fulfillment_centers=("LTN1", "MAN1", "EDI4"),
        addresses=(
            ("London", "Greater London", "SW1A 1AA"),
            ("Manchester", "Greater Manchester", "M1 1AE"),
            ("Edinburgh", "Scotland", "EH1 1YZ"),
            ("Bristol", "Bristol", "BS1 4DJ"),
        ),
    ),
    Store(
        store_id="store-fr",
        name="Demo Outdoor Co. (FR)",
        marketplace_id="A13V1IB3VIYZZH",
        currency="EUR",
        timezone="Europe/Paris",
        utc_offsets=(1, 2),
        sales_channel="Amazon.fr",
        ship_country="FR",
        order_id_prefix="405",
        units_per_day=45.0,
        price_factor=0.95,
        tax_ratio=0.1667,
        fulfillment_centers=("ORY1", "LYS1"),
        addresses=(
            ("Paris", "Île-de-France", "75001"),
            ("Lyon", "Auvergne-Rhône-Alpes", "69001"),
            ("Marseille", "Provence-Alpes-Côte d'Azur", "13001"),
            ("Grenoble", "Isère", "38000"),
        ),
    ),
    Store(
        store_id="store-it",
        name="Demo Outdoor Co. (IT)",
        marketplace_id="APJ6JRA9NG5V4",
        currency="EUR",
        timezone="Europe/Rome",
        utc_offsets=(1, 2),
        sales_channel="Amazon.it",
        ship_country="IT",
        order_id_prefix="406",
        units_per_day=35.0,
        price_factor=0.95,
        tax_ratio=0.1803,
        fulfillment_centers=("MXP5", "FCO1"),
        addresses=(
            ("Milano", "MI", "20121"),
            ("Roma", "RM", "00184"),
            ("Torino", "TO", "10121"),
            ("Bologna", "BO", "40121"),
        ),
    ),
    Store(
        store_id="store-es",
        name="Demo Outdoor Co. (ES)",
        marketplace_id="A1RKKUPIHCS9HS",
        currency="EUR",
        timezone="Europe/Madrid",
        utc_offsets=(1, 2),
        sales_channel="Amazon.es",
        ship_country="ES",
        order_id_prefix="407",
        units_per_day=35.0,
        price_factor=0.95,
        tax_ratio=0.1736,
        fulfillment_centers=("MAD4", "BCN1"),
        addresses=(
            ("Madrid", "Madrid", "28013"),
            ("Barcelona", "Barcelona", "08002"),
            ("Valencia", "Valencia", "46002"),
            ("Sevilla", "Sevilla", "41004"),
        ),
    ),
    Store(
        store_id="store-ca",
        name="Demo Outdoor Co. (CA)",
        marketplace_id="A2EUQ1WTGCTBG2",
        currency="CAD",
        timezone="America/Toronto",
        utc_offsets=(-5, -4),
        sales_channel="Amazon.ca",
        ship_country="CA",
        order_id_prefix="701",
        units_per_day=40.0,
        price_factor=1.35,
        tax_ratio=0.13,
        fulfillment_centers=("YYZ4", "YVR2"),
        addresses=(
            ("Toronto", "ON", "M5V 2T6"),
            ("Vancouver", "BC", "V6B 1A1"),
            ("Montréal", "QC", "H2X 1Y4"),
            ("Calgary", "AB", "T2P 1J9"),
        ),
    ),
)

# noun, SKU code, web-store category, typical USD list price
_PRODUCT_KINDS = (
    ("Tent", "TNT", "tents", 149),
    ("Sleeping Bag", "SBG", "sleeping", 89),
    ("Backpack", "BPK", "packs", 119),
    ("Headlamp", "HLP", "lighting", 29),
    ("Water Bottle", "BTL", "hydration", 19),
    ("Camp Stove", "STV", "cooking", 49),
    ("Trekking Poles", "TPL", "hiking", 59),
    ("Rain Jacket", "RJK", "apparel", 99),
    ("Hammock", "HMK", "camp-furniture", 39),
    ("Camp Chair", "CHR", "camp-furniture", 45),
    ("Cookware Set", "CKW", "cooking", 35),
    ("Water Filter", "FLT", "hydration", 34),
    ("Dry Bag", "DRY", "accessories", 15),
    ("First Aid Kit", "FAK", "accessories", 24),
    ("Lantern", "LTN", "lighting", 27),
    ("Sleeping Pad", "PAD", "sleeping", 55),
)
_PRODUCT_LINES = ("Summit", "Trail", "Alpine", "Ridge", "Canyon", "Basecamp")


@dataclass(frozen=True)
class Product:
    index: int
    sku: str
    asin: str
    fnsku: str
    name: str  # Amazon listing title
    title: str  # name in the web store
    category: str
    slug: str
    list_price_cents: int  # USD
    unit_volume: float  # cubic feet
    demand_share: float  # share of a store's units; the shares sum to 1
    return_rate: float  # probability that a shipped order line comes back

    def local_price_cents(self, store: Store) -> int:
        """The store's list price: the USD price converted and ending in .99."""
        whole = max(1, round(self.list_price_cents * store.price_factor / 100))
        return whole * 100 - 1


@dataclass(frozen=True)
class Catalog:
    products: tuple[Product, ...]
    high_return_skus: tuple[str, ...]

    @property
    def demand_shares(self) -> np.ndarray:
        return np.array([p.demand_share for p in self.products])

    def by_sku(self) -> dict[str, Product]:
        return {p.sku: p for p in self.products}


def build_catalog(seed: int, n_products: int) -> Catalog:
    """``n_products`` products with long-tail demand shares (Zipf, exponent 1) in random order."""
    rng = stream(seed, "catalog")
    ranks = rng.permutation(n_products) + 1
    shares = 1.0 / ranks
    shares /= shares.sum()
    rates = rng.uniform(*RETURN_RATE_RANGE, size=n_products)
    # high-return products come from the better sellers so that their rate is visible
    popular = np.argsort(ranks)[: max(HIGH_RETURN_SKU_COUNT, n_products // 2)]
    high = np.sort(rng.choice(popular, size=HIGH_RETURN_SKU_COUNT, replace=False))
    rates[high] = HIGH_RETURN_MULTIPLIER * float(np.mean(RETURN_RATE_RANGE))
    price_noise = rng.lognormal(0.0, 0.15, size=n_products)
    volumes = rng.uniform(0.05, 1.2, size=n_products)
    asins = alphanumeric_codes(rng, n_products, 8)
    fnskus = alphanumeric_codes(rng, n_products, 7)

    products = []
    for k in range(n_products):
        # the product line shifts by one every round of kinds: unique names for 96 products
        kind, round_ = k % len(_PRODUCT_KINDS), k // len(_PRODUCT_KINDS)
        noun, code, category, usd = _PRODUCT_KINDS[kind]
        line = _PRODUCT_LINES[(kind + round_) % len(_PRODUCT_LINES)]
        generation = k // (len(_PRODUCT_KINDS) * len(_PRODUCT_LINES))
        title = f"{line} {noun}" + (f" {generation + 1}" if generation else "")
        products.append(
            Product(
                index=k,
                sku=f"NX-{code}-{k + 1:03d}",
                asin=f"B0{asins[k]}",
                fnsku=f"X00{fnskus[k]}",
                name=f"Demo Outdoor {title}",
                title=title,
                category=category,
                slug=title.lower().replace(" ", "-"),
                list_price_cents=max(5, round(usd * price_noise[k])) * 100 - 1,
                unit_volume=round(float(volumes[k]), 4),
                demand_share=float(shares[k]),
                return_rate=round(float(rates[k]), 4),
            )
        )
    return Catalog(tuple(products), tuple(products[k].sku for k in high))
