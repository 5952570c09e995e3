"""The month's service-index rankings of areas and of agencies, for the report: read with
:mod:`ioc.storage.scorecard_reads`, scored and ranked by :mod:`ioc.scorecard` (the index
is computed there, exactly; nothing here computes it), named and grouped for the page."""

from __future__ import annotations

from collections.abc import Sequence

from psycopg import AsyncConnection

from ioc.geography import Geography
from ioc.geography.agencies import Agencies
from ioc.kpis.service_index import GROUPS, INDICATORS
from ioc.report.model import Group, Period, Ranking, RankRow
from ioc.scorecard import ScoreRow, scorecard
from ioc.storage.scorecard_reads import indicator_sums

GROUP_NAMES = {
    "transparency": ("Công khai, minh bạch", "Transparency"),
    "progress": ("Tiến độ giải quyết", "Progress"),
    "digitisation": ("Số hóa hồ sơ", "Digitisation"),
    "online_service": ("Dịch vụ trực tuyến", "Online service"),
    "satisfaction": ("Mức độ hài lòng", "Satisfaction"),
}
"""The five groups' names on the page (Decision 766/QĐ-TTg's wording, shortened)."""


def index_groups() -> tuple[Group, ...]:
    """The groups in the index's order, each with its maximum points (its weights' sum)."""
    return tuple(Group(key, *GROUP_NAMES.get(key, (key, key)),
                       points=sum(i.weight for i in INDICATORS if i.group == key))
                 for key in GROUPS)


def ranking_of(rows: Sequence[ScoreRow]) -> Ranking:
    """Scorecard rows (ranked, with data) as the report's ranking."""
    groups = index_groups()
    out = []
    for row in rows:
        if row.score.index is None:  # the scorecard lists scopes with data only
            continue
        out.append(RankRow(rank=row.rank, code=row.scope, name=row.name, index=row.score.index,
                           groups=tuple(row.score.groups.get(g.key) for g in groups)))
    return Ranking(groups, tuple(out))


async def month_rankings(conn: AsyncConnection, period: Period, geography: Geography,
                         agencies: Agencies) -> tuple[Ranking, Ranking]:
    """(areas, agencies) ranked by the month's index."""
    areas = await indicator_sums(conn, "area", period.start, period.end)
    by_agency = await indicator_sums(conn, "agency", period.start, period.end)
    return (ranking_of(scorecard(areas, lambda code: geography.area_name(code) or code)),
            ranking_of(scorecard(by_agency, agencies.name)))
