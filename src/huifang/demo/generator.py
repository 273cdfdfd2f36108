"""A reproducible, realistic synthetic portfolio of Chinese auto loans.

`generate(n_loans, seed, as_of)` describes a portfolio: 12 branches (and a head office)
across provinces, 6 loan products, and `n_loans` loans streamed one at a time with their
payment histories up to `as_of`. Rows are dicts keyed by the column names of
`huifang.files.layout` holding typed Python values (Decimal, date, int, bool, str;
canonical choice values such as "equal-installment"; percent columns as fractions), so they
can be written as import files (`huifang.files.writer`) or loaded directly.

Reproducibility: every loan draws from its own `random.Random` seeded with (seed, index), so
the same seed and `as_of` give identical output, `loans(start, stop)` can generate any slice
of the portfolio on its own (partitions, parallel workers), and a longer portfolio starts
with the loans of a shorter one. Identifiers that the importer keys on are unique by
construction, not by luck: contract numbers and transaction references carry the loan
index; VINs, resident IDs and credit codes put a seeded permutation of the index into their
serial digits (unique up to 1.2 million loans for resident IDs, 33 million for VINs).

Realism, in short: Chinese names from a surname frequency table; resident IDs issued in the
branch city (a quarter of borrowers come from elsewhere), age 22-60 at disbursement, valid
GB 11643 check digit; about 15 % business (工商) borrowers - companies and 个体工商户 - with
valid unified social credit codes and a legal representative; spouses, emergency contacts,
employer phones; guarantors for some (more for business and low scores); real brands and
models with list-price bands and segments, about 40 % new-energy vehicles with 8-character
green plates, valid VINs whose model-year character matches the model year; 15 % used cars
(older model years, mileage, at most 36 months); down payments 20-50 %; principal in whole
thousands of yuan; rates by product and credit score; disbursements over the five years
before `as_of`, growing towards the present.

Payment histories come from `huifang.domain.schedule.build_schedule` (never re-derived
here) and one of four behaviours (`ARCHETYPES`): on-time payers (~70 %) pay each
installment exactly, on or a few days before its due date; late payers (~15 %) pay some
installments 1-45 days late, sometimes in two parts, catching up; defaulters (~7 %) stop
paying at a point chosen so that their days past due on `as_of` spread over every bucket
M1-M6+ (some make small partial payments afterwards, some of the oldest are written off);
early repayers (~8 %) pay off the outstanding principal plus that period's interest in one
`prepayment` after the lock-in period and are closed. A late payment includes the
penalty interest (罚息, contract rate × 1.5 a year, days / 360) on what was overdue, rounded
up to the yuan as people pay; the few fen over are held as credit by the posting rules, so a
late payer who has caught up is current again. Prepayments carry no fee (treated as
waived). A loan whose every installment is paid is closed with the date of its last payment.

Speed: schedules are cached by their amounts' inputs (principal, rate, term, method,
balloon) and due dates by disbursement date; with `repayment_day` equal to the disbursement
day the first period is regular, so amounts do not depend on the date (the module's
tests check the cached schedule against `build_schedule` for the loan's own terms).
"""

from __future__ import annotations

import random
from array import array
from bisect import bisect_right
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from itertools import accumulate
from math import gcd

from huifang.domain.identifiers import (
    USCC_ALPHABET,
    org_code_check_char,
    resident_id_check_digit,
    uscc_check_char,
    vin_check_digit,
)
from huifang.domain.schedule import (
    LoanTerms,
    RepaymentMethod,
    build_schedule,
    contractual_due_dates,
)
from huifang.files.layout import LOAN_COLUMNS, PAYMENT_COLUMNS

ON_TIME = "on-time"
LATE = "late"
DEFAULTER = "defaulter"
EARLY_REPAYER = "early-repayer"
ARCHETYPES = (ON_TIME, LATE, DEFAULTER, EARLY_REPAYER)
_ARCHETYPE_CUM = (0.70, 0.85, 0.92, 1.0)

HISTORY_YEARS = 5
BUSINESS_SHARE = 0.15
USED_SHARE = 0.15

LOAN_FIELDS = tuple(c.name for c in LOAN_COLUMNS)
PAYMENT_FIELDS = tuple(c.name for c in PAYMENT_COLUMNS)


# --- reference tables --------------------------------------------------------------------


@dataclass(frozen=True)
class _Branch:
    code: str
    city_short: str
    province: str
    city: str
    plate_province: str
    plate_letters: str
    phone_area: str
    timezone: str
    districts: tuple[tuple[str, str], ...]  # (GB/T 2260 code, name)
    weight: float

    @property
    def name(self) -> str:
        return f"汇方汽车金融{self.city_short}分公司"

    @property
    def address_prefix(self) -> str:
        return self.city if self.province == self.city else f"{self.province}{self.city}"


HEAD_OFFICE_CODE = "HQ00"

_BRANCHES: tuple[_Branch, ...] = (
    _Branch("GZ01", "广州", "广东省", "广州市", "粤", "A", "020", "Asia/Shanghai",
            (("440106", "天河区"), ("440104", "越秀区"), ("440105", "海珠区"),
             ("440111", "白云区"), ("440113", "番禺区")), 11),
    _Branch("SZ01", "深圳", "广东省", "深圳市", "粤", "B", "0755", "Asia/Shanghai",
            (("440304", "福田区"), ("440303", "罗湖区"), ("440305", "南山区"),
             ("440306", "宝安区"), ("440307", "龙岗区")), 12),
    _Branch("SH01", "上海", "上海市", "上海市", "沪", "ABDEFGHJKLMN", "021", "Asia/Shanghai",
            (("310115", "浦东新区"), ("310104", "徐汇区"), ("310112", "闵行区"),
             ("310106", "静安区"), ("310113", "宝山区")), 12),
    _Branch("BJ01", "北京", "北京市", "北京市", "京", "ACEFHJKLMNPQ", "010", "Asia/Shanghai",
            (("110105", "朝阳区"), ("110108", "海淀区"), ("110106", "丰台区"),
             ("110101", "东城区"), ("110115", "大兴区")), 10),
    _Branch("HZ01", "杭州", "浙江省", "杭州市", "浙", "A", "0571", "Asia/Shanghai",
            (("330106", "西湖区"), ("330102", "上城区"), ("330105", "拱墅区"),
             ("330108", "滨江区"), ("330110", "余杭区")), 9),
    _Branch("CD01", "成都", "四川省", "成都市", "川", "A", "028", "Asia/Shanghai",
            (("510104", "锦江区"), ("510105", "青羊区"), ("510106", "金牛区"),
             ("510107", "武侯区"), ("510108", "成华区")), 10),
    _Branch("WH01", "武汉", "湖北省", "武汉市", "鄂", "A", "027", "Asia/Shanghai",
            (("420102", "江岸区"), ("420103", "江汉区"), ("420106", "武昌区"),
             ("420111", "洪山区"), ("420105", "汉阳区")), 8),
    _Branch("XA01", "西安", "陕西省", "西安市", "陕", "A", "029", "Asia/Shanghai",
            (("610102", "新城区"), ("610103", "碑林区"), ("610104", "莲湖区"),
             ("610113", "雁塔区"), ("610112", "未央区")), 6),
    _Branch("ZZ01", "郑州", "河南省", "郑州市", "豫", "A", "0371", "Asia/Shanghai",
            (("410102", "中原区"), ("410103", "二七区"), ("410104", "管城回族区"),
             ("410105", "金水区"), ("410108", "惠济区")), 7),
    _Branch("CS01", "长沙", "湖南省", "长沙市", "湘", "A", "0731", "Asia/Shanghai",
            (("430102", "芙蓉区"), ("430103", "天心区"), ("430104", "岳麓区"),
             ("430105", "开福区"), ("430111", "雨花区")), 6),
    _Branch("CQ01", "重庆", "重庆市", "重庆市", "渝", "ABCDFGH", "023", "Asia/Shanghai",
            (("500103", "渝中区"), ("500105", "江北区"), ("500106", "沙坪坝区"),
             ("500107", "九龙坡区"), ("500108", "南岸区")), 8),
    _Branch("WL01", "乌鲁木齐", "新疆维吾尔自治区", "乌鲁木齐市", "新", "A", "0991",
            "Asia/Urumqi",
            (("650102", "天山区"), ("650103", "沙依巴克区"), ("650104", "新市区"),
             ("650105", "水磨沟区")), 3),
)  # fmt: skip

# Hometowns of borrowers who moved to the branch city (division codes of GB/T 2260).
_HOMETOWN_AREAS = (
    "431102", "450102", "411302", "360102", "341302", "130102", "210102", "370102",
    "350203", "530102", "230103", "441302", "445202", "421002", "511302", "520102",
    "140105", "320382", "500101", "622901", "610502", "410305", "433101", "452501",
)  # fmt: skip


@dataclass(frozen=True)
class _Product:
    code: str
    name: str
    method: RepaymentMethod
    rate: str  # annual, fraction
    terms: tuple[tuple[int, float], ...]  # (months, weight)
    lock_in: int
    fee_basis: str
    fee_tiers: str
    max_prepayments: int
    min_prepayment: int
    max_ltv: str
    balloon_pct: str | None = None


_PRODUCTS: tuple[_Product, ...] = (
    _Product("HFEI01", "汇享贷·等额本息", RepaymentMethod.EQUAL_INSTALLMENT, "0.058",
             ((12, 8), (24, 20), (36, 42), (48, 10), (60, 20)),
             6, "prepaid-principal", "12:3,24:2,36:1", 2, 10000, "0.80"),
    _Product("HFNE01", "新能源专享贷", RepaymentMethod.EQUAL_INSTALLMENT, "0.039",
             ((12, 10), (24, 20), (36, 40), (48, 10), (60, 20)),
             3, "prepaid-principal", "12:2,24:1", 2, 5000, "0.85"),
    _Product("HFEP01", "稳享贷·等额本金", RepaymentMethod.EQUAL_PRINCIPAL, "0.052",
             ((12, 10), (24, 25), (36, 40), (48, 10), (60, 15)),
             6, "prepaid-principal", "12:3,24:2,36:1", 1, 10000, "0.80"),
    _Product("HFIF01", "经营贷·先息后本", RepaymentMethod.INTEREST_FIRST, "0.085",
             ((12, 30), (24, 35), (36, 35)),
             6, "remaining-principal", "36:5", 1, 50000, "0.70"),
    _Product("HFBL01", "轻享尾款贷", RepaymentMethod.BALLOON, "0.049",
             ((24, 30), (36, 70)),
             12, "loan-amount", "12:3,24:2,36:1", 1, 20000, "0.80", "0.30"),
    _Product("HFUC01", "二手车贷", RepaymentMethod.EQUAL_INSTALLMENT, "0.088",
             ((12, 20), (24, 35), (36, 45)),
             6, "prepaid-principal", "12:3,24:2", 2, 5000, "0.70"),
)  # fmt: skip
_P_EI, _P_NEV, _P_EP, _P_IF, _P_BALLOON, _P_USED = range(6)
_METHOD_VALUES = tuple(p.method.value for p in _PRODUCTS)
_NO_BALLOON = Decimal(0)
_BALLOON_PCTS = tuple(Decimal(p) for p in ("0.20", "0.30", "0.40"))
# Rate over the product's by credit score: (minimum score, adjustment).
_RATE_ADJUSTMENTS = ((700, "0"), (620, "0.012"), (0, "0.03"))


@dataclass(frozen=True)
class _Model:
    brand: str
    wmi: str
    model: str
    segment: str
    price_lo: int
    price_hi: int
    fuels: tuple[tuple[str, float], ...]
    weight: float  # individual borrowers
    business_weight: float


def _m(
    brand: str,
    wmi: str,
    model: str,
    segment: str,
    lo: int,
    hi: int,
    fuels: str,
    weight: float,
    business: float | None = None,
) -> _Model:
    parsed = tuple((f.split(":")[0], float(f.split(":")[1])) for f in fuels.split())
    return _Model(
        brand, wmi, model, segment, lo, hi, parsed, weight,
        weight * 0.5 if business is None else business,
    )  # fmt: skip


_MODELS: tuple[_Model, ...] = (
    _m("比亚迪", "LGX", "秦PLUS DM-i", "A级轿车", 79800, 125800, "phev:1", 6, 4),
    _m("比亚迪", "LGX", "秦PLUS EV", "A级轿车", 109800, 139800, "bev:1", 2.5, 3),
    _m("比亚迪", "LGX", "宋PLUS DM-i", "紧凑型SUV", 129800, 169800, "phev:1", 5),
    _m("比亚迪", "LGX", "元PLUS", "紧凑型SUV", 119800, 147800, "bev:1", 3),
    _m("比亚迪", "LGX", "海豚", "小型车", 99800, 129800, "bev:1", 3),
    _m("比亚迪", "LGX", "海鸥", "微型车", 69800, 85800, "bev:1", 3),
    _m("比亚迪", "LGX", "汉", "中大型轿车", 169800, 269800, "bev:0.5 phev:0.5", 2),
    _m("比亚迪", "LGX", "唐", "中型SUV", 209800, 289800, "phev:0.7 bev:0.3", 1.5),
    _m("特斯拉", "LRW", "Model 3", "中型轿车", 231900, 285900, "bev:1", 2),
    _m("特斯拉", "LRW", "Model Y", "中型SUV", 249900, 299900, "bev:1", 3),
    _m("丰田", "LFM", "卡罗拉", "A级轿车", 119800, 159800, "petrol:0.6 hybrid:0.4", 4),
    _m("丰田", "LFM", "RAV4荣放", "紧凑型SUV", 175800, 263800, "petrol:0.6 hybrid:0.4", 2.5),
    _m("丰田", "LVG", "凯美瑞", "B级轿车", 179800, 269800, "petrol:0.6 hybrid:0.4", 2.5),
    _m("丰田", "LVG", "汉兰达", "中型SUV", 269800, 349800, "petrol:0.5 hybrid:0.5", 1.2, 2),
    _m("大众", "LSV", "朗逸", "A级轿车", 99900, 149900, "petrol:1", 5),
    _m("大众", "LSV", "帕萨特", "B级轿车", 179900, 259900, "petrol:1", 2, 2),
    _m("大众", "LSV", "途观L", "中型SUV", 219900, 289900, "petrol:1", 2),
    _m("大众", "LSV", "ID.4 X", "紧凑型SUV", 199900, 249900, "bev:1", 0.8),
    _m("大众", "LFV", "速腾", "A级轿车", 129900, 179900, "petrol:1", 3),
    _m("大众", "LFV", "迈腾", "B级轿车", 189900, 279900, "petrol:1", 2, 2),
    _m("大众", "LFV", "探岳", "紧凑型SUV", 189900, 269900, "petrol:1", 1.5),
    _m("本田", "LHG", "雅阁", "B级轿车", 179800, 259800, "petrol:0.6 hybrid:0.4", 2),
    _m("本田", "LVH", "思域", "A级轿车", 129900, 169900, "petrol:1", 2),
    _m("本田", "LVH", "CR-V", "紧凑型SUV", 181900, 259900, "petrol:0.6 hybrid:0.3 phev:0.1", 2.5),
    _m("日产", "LGB", "轩逸", "A级轿车", 99800, 139800, "petrol:1", 5, 3),
    _m("日产", "LGB", "奇骏", "紧凑型SUV", 169800, 229800, "petrol:1", 1.2),
    _m("吉利", "L6T", "帝豪", "A级轿车", 69800, 99800, "petrol:1", 3, 3),
    _m("吉利", "L6T", "星越L", "紧凑型SUV", 135700, 180700, "petrol:0.8 phev:0.2", 2),
    _m("吉利", "L6T", "博越L", "紧凑型SUV", 115700, 153700, "petrol:1", 2),
    _m("吉利", "L6T", "银河L7", "紧凑型SUV", 138700, 173700, "phev:1", 1.5),
    _m("吉利", "L6T", "几何E", "小型SUV", 86800, 103800, "bev:1", 1.2),
    _m("长安", "LS5", "CS75 PLUS", "紧凑型SUV", 109900, 154900, "petrol:1", 3),
    _m("长安", "LS5", "逸动", "A级轿车", 72900, 99900, "petrol:1", 2, 2),
    _m("长安", "LS5", "深蓝SL03", "中型轿车", 169900, 219900, "bev:0.5 erev:0.5", 1),
    _m("长安", "LS5", "UNI-V", "A级轿车", 109900, 135900, "petrol:1", 1),
    _m("哈弗", "LGW", "哈弗H6", "紧凑型SUV", 98900, 156900, "petrol:0.8 hybrid:0.2", 4),
    _m("长城", "LGW", "长城炮", "皮卡", 97800, 209800, "diesel:0.7 petrol:0.3", 0.6, 8),
    _m("理想", "LW4", "理想L7", "中大型SUV", 319800, 379800, "erev:1", 1.2),
    _m("理想", "LW4", "理想L8", "中大型SUV", 339800, 399800, "erev:1", 0.8),
    _m("理想", "LW4", "理想L9", "中大型SUV", 409800, 459800, "erev:1", 1, 1),
    _m("蔚来", "LJ1", "蔚来ES6", "中型SUV", 338000, 396000, "bev:1", 0.7),
    _m("蔚来", "LJ1", "蔚来ET5", "中型轿车", 298000, 356000, "bev:1", 0.6),
    _m("宝马", "LBV", "宝马3系", "中型轿车", 299900, 404900, "petrol:1", 1.5),
    _m("宝马", "LBV", "宝马5系", "中大型轿车", 439900, 559900, "petrol:1", 1, 2),
    _m("宝马", "LBV", "宝马X3", "中型SUV", 399900, 489900, "petrol:1", 1),
    _m("宝马", "LBV", "宝马iX3", "中型SUV", 399900, 429900, "bev:1", 0.3),
    _m("奔驰", "LE4", "奔驰C级", "中型轿车", 329900, 409900, "petrol:1", 1.3),
    _m("奔驰", "LE4", "奔驰E级", "中大型轿车", 439900, 559900, "petrol:1", 1, 2),
    _m("奔驰", "LE4", "奔驰GLC", "中型SUV", 429900, 507900, "petrol:1", 1),
    _m("奥迪", "LFV", "奥迪A4L", "中型轿车", 321800, 408800, "petrol:1", 1.2),
    _m("奥迪", "LFV", "奥迪A6L", "中大型轿车", 426800, 655800, "petrol:1", 1, 2),
    _m("奥迪", "LFV", "奥迪Q5L", "中型SUV", 395800, 498800, "petrol:1", 0.8),
    _m("五菱", "LZW", "宏光MINIEV", "微型车", 32800, 50800, "bev:1", 3, 1),
    _m("五菱", "LZW", "缤果", "小型车", 59800, 85800, "bev:1", 1.5),
    _m("五菱", "LZW", "五菱荣光", "微型面包车", 46800, 62800, "petrol:1", 0.5, 8),
    _m("五菱", "LZW", "五菱宏光", "MPV", 49800, 68800, "petrol:1", 0.8, 6),
    _m("别克", "LSG", "别克GL8", "MPV", 232900, 345900, "petrol:0.8 hybrid:0.2", 1, 5),
    _m("别克", "LSG", "英朗", "A级轿车", 89900, 125900, "petrol:1", 2),
    _m("奇瑞", "LVV", "瑞虎8", "中型SUV", 109900, 159900, "petrol:1", 1.5),
    _m("红旗", "LFP", "红旗H5", "B级轿车", 159800, 216800, "petrol:1", 1, 1),
    _m("红旗", "LFP", "红旗E-QM5", "B级轿车", 149800, 176800, "bev:1", 0.5, 2),
)
_NEV_FUELS = frozenset({"bev", "phev", "erev", "fcev"})
_VIN_CHARS = "0123456789ABCDEFGHJKLMNPRSTUVWXYZ"  # no I, O, Q
_FUEL_VIN_CHAR = {
    "petrol": "1", "diesel": "2", "hybrid": "3", "phev": "4", "erev": "5", "bev": "6",
    "fcev": "7",
}  # fmt: skip
_PLATE_LETTERS = "ABCDEFGHJKLMNPQRSTUVWXYZ"  # no I, O


def _model_year_code(year: int) -> str:
    """ISO 3779 model-year character (position 10): 2001-2009 '1'-'9', 2010-2030 'A'-'Y'."""
    cycle = "ABCDEFGHJKLMNPRSTVWXY123456789"
    return cycle[(year - 2010) % 30]


def _model_vds() -> tuple[str, ...]:
    """Four VDS characters per model, fixed (not seeded) so a model always looks the same."""
    picker = random.Random(20240101)
    seen: set[tuple[str, str]] = set()
    out = []
    for m in _MODELS:
        while True:
            vds = "".join(picker.choice(_VIN_CHARS[10:]) for _ in range(2)) + "".join(
                picker.choice(_VIN_CHARS) for _ in range(2)
            )
            if (m.wmi, vds) not in seen:
                seen.add((m.wmi, vds))
                out.append(vds)
                break
    return tuple(out)


_MODEL_VDS = _model_vds()

# Surnames with their approximate share of the population (%), 2020 census order.
_SURNAMES = (
    "王7.1 李7.0 张6.6 刘5.3 陈4.6 杨3.1 黄2.4 赵2.0 吴1.9 周1.9 徐1.4 孙1.3 马1.2 朱1.2 "
    "胡1.1 郭1.1 何1.1 林1.0 高1.0 罗0.9 郑0.8 梁0.8 谢0.7 宋0.6 唐0.6 许0.6 韩0.6 邓0.6 "
    "冯0.6 曹0.5 彭0.5 曾0.5 肖0.5 田0.5 董0.5 潘0.4 袁0.4 蔡0.4 蒋0.4 余0.4 于0.4 杜0.4 "
    "叶0.4 程0.4 魏0.3 苏0.3 吕0.3 丁0.3 任0.3 卢0.3 姚0.3 沈0.3 钟0.3 姜0.3 崔0.3 谭0.3 "
    "陆0.3 范0.2 汪0.2 廖0.2 石0.2 金0.2 韦0.2 贾0.2 夏0.2 付0.2 方0.2 邹0.2 熊0.2 白0.2 "
    "孟0.2 秦0.2 邱0.2 侯0.2 江0.2 尹0.2 薛0.2 闫0.2 段0.2 雷0.2 龙0.1 黎0.1 史0.1 陶0.1 "
    "贺0.1 毛0.1 郝0.1 顾0.1 龚0.1 邵0.1 万0.1 覃0.1 武0.1 钱0.1 戴0.1 严0.1 莫0.1 孔0.1 "
    "向0.1 常0.1 欧阳0.05 上官0.01 司马0.01 诸葛0.01"
)


def _words(text: str) -> tuple[str, ...]:
    return tuple(text.split())


_MALE_CHARS = (
    "伟强磊军勇杰涛斌超明刚平辉鹏华飞鑫波宇浩凯健俊帆旭宁龙林阳峰建国志文海东亮晨博振家"
    "子轩睿泽宏毅成康永庆德荣兵锋"
)
_FEMALE_CHARS = (
    "芳娜敏静丽艳娟霞秀玲燕萍红婷雪琳晶颖倩慧佳欣怡璐瑶梦雨思涵月美丹莉蕾悦彤洁薇琪晓婉妍岚春菲"
)
_MOBILE_PREFIXES = _words(
    "130 131 132 133 134 135 136 137 138 139 147 150 151 152 153 155 156 157 158 159 "
    "166 170 171 173 175 176 177 178 180 181 182 183 184 185 186 187 188 189 191 193 "
    "195 196 198 199"
)
_ROADS = _words(
    "中山路 解放路 人民路 建设路 和平路 胜利路 新华路 长江路 黄河路 文化路 学府路 科技路 "
    "工业大道 滨江大道 东风路 光明路 幸福路 青年路 朝阳路 花园路 体育路 金融街 创业路 "
    "世纪大道 迎宾路 友谊路 五一路 民主路"
)
_COMMUNITIES = _words(
    "阳光花园 锦绣家园 翠苑小区 金色港湾 碧桂园 万科城 保利花园 恒大名都 华润城 绿地中心 "
    "龙湖天街 城市花园 书香门第 幸福里 梧桐苑 御景湾 丽景苑 水岸华庭 新城国际 时代广场 "
    "怡景湾 紫荆苑 融创府 招商雍景湾"
)
_COMPANY_WORDS = _words(
    "华信 鼎盛 恒通 宏远 天成 金泰 鑫达 博远 中联 瑞丰 嘉禾 永安 东方 海纳 新锐 诚信 "
    "聚源 广源 盛世 润泽 远航 同创 金桥 汇通 德润 腾飞 安达 众合 昌隆 万顺"
)

# (occupation, industry, self-employed, employer kind, weight, income factor)
_OCCUPATIONS = (
    ("公司职员", "信息技术", False, "company", 14, 1.0),
    ("软件工程师", "信息技术", False, "company", 6, 1.4),
    ("销售经理", "批发零售", False, "company", 6, 1.2),
    ("教师", "教育", False, "school", 5, 1.0),
    ("医生", "医疗卫生", False, "hospital", 3, 1.4),
    ("护士", "医疗卫生", False, "hospital", 3, 0.9),
    ("公务员", "公共管理", False, "government", 4, 1.1),
    ("银行职员", "金融", False, "bank", 3, 1.2),
    ("会计", "商务服务", False, "company", 4, 1.0),
    ("工程师", "制造业", False, "company", 6, 1.1),
    ("技术工人", "制造业", False, "company", 6, 0.8),
    ("建筑工程师", "建筑业", False, "company", 3, 1.1),
    ("个体经营", "批发零售", True, "shop", 9, 1.2),
    ("餐饮店主", "住宿餐饮", True, "shop", 4, 1.1),
    ("网约车司机", "交通运输", True, None, 5, 0.8),
    ("货运司机", "交通运输", True, None, 3, 0.8),
    ("快递员", "交通运输", False, "company", 3, 0.7),
    ("自由职业", "文化娱乐", True, None, 3, 0.9),
    ("房产经纪人", "房地产", False, "company", 3, 1.0),
    ("农户", "农林牧渔", True, None, 2, 0.6),
)
_COMPANY_SUFFIX = {
    "信息技术": "科技",
    "批发零售": "商贸",
    "商务服务": "企业管理咨询",
    "制造业": "机械制造",
    "建筑业": "建设工程",
    "交通运输": "物流",
    "房地产": "房地产经纪",
    "住宿餐饮": "餐饮管理",
    "文化娱乐": "文化传媒",
}
# Business borrowers: (industry, company suffix, shop suffix, weight)
_BUSINESS_INDUSTRIES = (
    ("物流运输", "物流", "货运部", 20),
    ("批发零售", "商贸", "商行", 18),
    ("建筑工程", "建设工程", "建材店", 12),
    ("住宿餐饮", "餐饮管理", "饭店", 10),
    ("制造业", "机械制造", "加工厂", 10),
    ("汽车租赁", "汽车租赁", "租车行", 8),
    ("装修装饰", "装饰工程", "装饰部", 8),
    ("农产品加工", "农业发展", "粮油店", 6),
    ("信息技术", "网络科技", "电脑店", 4),
    ("商务服务", "企业管理咨询", "图文店", 4),
)
_EMERGENCY_RELATIONS = ("父亲", "母亲", "兄弟", "姐妹", "朋友", "同事", "亲属")
_GUARANTOR_RELATIONS = ("父亲", "母亲", "兄弟", "姐妹", "朋友", "亲属")
_BUSINESS_CONTACT_RELATIONS = ("财务负责人", "股东", "办公室主任")
# (target days past due low, high, weight): defaulters spread over M1-M6+.
_DEFAULT_DPD = (
    (1, 30, 24),
    (31, 60, 14),
    (61, 90, 12),
    (91, 120, 10),
    (121, 150, 8),
    (151, 180, 7),
    (181, 400, 15),
    (401, 900, 10),
)
_SCORE_MEAN = {ON_TIME: 712, LATE: 648, DEFAULTER: 598, EARLY_REPAYER: 735}


def _cumulative(weights: Sequence[float]) -> tuple[float, ...]:
    total = float(sum(weights))
    cum = [w / total for w in accumulate(weights)]
    cum[-1] = 1.0
    return tuple(cum)


def _parse_surnames() -> tuple[tuple[str, ...], tuple[float, ...]]:
    names, weights = [], []
    for item in _SURNAMES.split():
        split = next(i for i, c in enumerate(item) if c.isdigit())
        names.append(item[:split])
        weights.append(float(item[split:]))
    return tuple(names), _cumulative(weights)


_SURNAME_LIST, _SURNAME_CUM = _parse_surnames()
_BRANCH_CUM = _cumulative([b.weight for b in _BRANCHES])
_MODEL_CUM_INDIVIDUAL = _cumulative([m.weight for m in _MODELS])
_MODEL_CUM_BUSINESS = _cumulative([m.business_weight for m in _MODELS])
_MODEL_FUEL_CUM = tuple(_cumulative([w for _, w in m.fuels]) for m in _MODELS)
_OCCUPATION_CUM = _cumulative([o[4] for o in _OCCUPATIONS])
_INDUSTRY_CUM = _cumulative([b[3] for b in _BUSINESS_INDUSTRIES])
_DPD_CUM = _cumulative([d[2] for d in _DEFAULT_DPD])
_PRODUCT_TERMS = tuple(
    (tuple(t for t, _ in p.terms), _cumulative([w for _, w in p.terms])) for p in _PRODUCTS
)
_PENALTY_MULTIPLIER = Decimal("1.5")  # every demo product's penalty_rate_multiplier
_DAYS = tuple(timedelta(days=k) for k in range(HISTORY_YEARS * 366 + 800))


# --- the portfolio -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DemoLoan:
    """One generated loan: its import row, its payment rows and the behaviour behind them."""

    index: int
    row: dict[str, object]
    payments: list[dict[str, object]]
    archetype: str

    @property
    def terms(self) -> LoanTerms:
        return loan_terms(self.row)


@dataclass
class DemoPortfolio:
    """A generated portfolio; `loans()` streams the loans, each time the same ones."""

    n_loans: int
    seed: int
    as_of: date
    branches: list[dict[str, object]]
    products: list[dict[str, object]]
    _factory: _Factory = field(repr=False)

    def __len__(self) -> int:
        return self.n_loans

    def loans(
        self, start: int = 0, stop: int | None = None
    ) -> Iterator[tuple[dict[str, object], list[dict[str, object]]]]:
        """(loan row, payment rows) for loans `start` to `stop` (default: all), in order."""
        for loan in self.records(start, stop):
            yield loan.row, loan.payments

    def records(self, start: int = 0, stop: int | None = None) -> Iterator[DemoLoan]:
        """Like `loans()` with the loan index and behaviour archetype (for tests, reports)."""
        stop = self.n_loans if stop is None else min(stop, self.n_loans)
        return self._factory.stream(max(start, 0), stop)


def generate(n_loans: int, seed: int, as_of: date) -> DemoPortfolio:
    """A reproducible synthetic portfolio of `n_loans` loans with histories up to `as_of`.

    Nothing is generated until `loans()` is iterated; the same arguments always give the
    same rows.
    """
    if n_loans < 0:
        raise ValueError(f"贷款笔数不能为负: {n_loans}")
    return DemoPortfolio(
        n_loans=n_loans,
        seed=seed,
        as_of=as_of,
        branches=_branch_rows(),
        products=_product_rows(),
        _factory=_Factory(seed, as_of),
    )


def loan_terms(row: dict[str, object]) -> LoanTerms:
    """The schedule terms of a generated loan row (what the importer will build from it)."""
    balloon = row.get("balloon_pct")
    return LoanTerms(
        principal=row["principal"],  # type: ignore[arg-type]
        annual_rate=row["annual_rate"],  # type: ignore[arg-type]
        term_months=row["term_months"],  # type: ignore[arg-type]
        method=RepaymentMethod(row["repayment_method"]),
        disbursement_date=row["disbursement_date"],  # type: ignore[arg-type]
        repayment_day=row.get("repayment_day"),  # type: ignore[arg-type]
        balloon_pct=balloon if balloon is not None else Decimal(0),  # type: ignore[arg-type]
    )


def _branch_rows() -> list[dict[str, object]]:
    rows: list[dict[str, object]] = [
        {
            "branch_code": HEAD_OFFICE_CODE,
            "branch_name": "汇方汽车金融总部",
            "province": "上海市",
            "city": "上海市",
            "timezone": "Asia/Shanghai",
            "parent_code": None,
        }
    ]
    for b in _BRANCHES:
        rows.append(
            {
                "branch_code": b.code,
                "branch_name": b.name,
                "province": b.province,
                "city": b.city,
                "timezone": b.timezone,
                "parent_code": HEAD_OFFICE_CODE,
            }
        )
    return rows


def _product_rows() -> list[dict[str, object]]:
    rows: list[dict[str, object]] = []
    for p in _PRODUCTS:
        terms = [t for t, _ in p.terms]
        rows.append(
            {
                "product_code": p.code,
                "product_name": p.name,
                "repayment_method": p.method.value,
                "annual_rate": Decimal(p.rate),
                "min_term_months": min(terms),
                "max_term_months": max(terms),
                "penalty_rate_multiplier": _PENALTY_MULTIPLIER,
                "balloon_pct": Decimal(p.balloon_pct) if p.balloon_pct else None,
                "lock_in_months": p.lock_in,
                "prepayment_fee_basis": p.fee_basis,
                "prepayment_fee_tiers": p.fee_tiers,
                "max_prepayments_per_year": p.max_prepayments,
                "min_prepayment_amount": Decimal(p.min_prepayment).quantize(Decimal("0.01")),
                "max_ltv_pct": Decimal(p.max_ltv),
            }
        )
    return rows


# --- generation --------------------------------------------------------------------------

_TXN_SEQ = tuple(f"{k:04d}" for k in range(1, 10000))  # payment sequence suffixes
_BLOCK = 16  # loans per reseeding of the random generator (seeding costs ~8 µs)
_ID_SEQ = 500  # sequence numbers per gender in positions 15-17 of a resident ID
_ID_PERIOD = 4800  # birth dates of one sequence number repeat every this many days
_ID_SPACE = _ID_SEQ * _ID_PERIOD  # person slots (2 per loan) that are guaranteed unique
_VIN_SERIALS = 1_000_000
_ORG_DIGITS = 100_000_000
_ORG_MA = 31**6
_PLATE_SPACE = 1_000_000
_CANON_DATE = date(2020, 1, 15)  # schedule amounts with a regular first period are date-free
_SCHEDULE_CACHE_LIMIT = 100_000
# Schedules are pure functions of their key, so every portfolio in the process shares them.
_SCHEDULES: dict[tuple[int, Decimal, int, RepaymentMethod, Decimal], tuple] = {}
_DUE_DATES: dict[int, tuple[date, ...]] = {}
_FEN = Decimal("0.01")


def _coprime(picker: random.Random, modulus: int) -> int:
    while True:
        a = picker.randrange(modulus // 3, modulus - 1)
        if gcd(a, modulus) == 1:
            return a


def _round_principal(price: int, dp_ratio: float, dp_min: float) -> int:
    """The loan amount for a down-payment ratio, in the round sums lenders approve.

    Steps of 2,000 yuan below 30,000, 5,000 to 100,000, 10,000 to 300,000 and 50,000 above
    (8.5万, 12万, 35万 ...); the down payment (price - principal) absorbs the rest and stays
    within [dp_min, 50 %] where the steps allow.
    """
    wanted = price * (1 - dp_ratio)
    if wanted < 30000:
        step = 2000
    elif wanted < 100000:
        step = 5000
    else:
        step = 10000 if wanted < 300000 else 50000
    low = max(10000, int(wanted // step) * step)
    if low < price * 0.5 and low + step <= price * (1 - dp_min):
        return low + step
    return low


_PRINCIPALS: dict[int, Decimal] = {}


def _principal_decimal(principal: int) -> Decimal:
    found = _PRINCIPALS[principal] = Decimal(principal).quantize(_FEN)
    return found


def _money(fen: int) -> Decimal:
    return Decimal(fen).scaleb(-2)


class _Factory:
    """Makes loan `index` of a portfolio; holds the seed-wide tables and schedule caches."""

    def __init__(self, seed: int, as_of: date) -> None:
        self.seed = seed
        self.as_of = as_of
        self.as_of_ord = as_of.toordinal()
        self._base = (seed & 0xFFFF_FFFF_FFFF_FFFF) << 32
        self._rng = random.Random()
        picker = random.Random(f"huifang-demo-{seed}")
        self._id_mul, self._id_add = _coprime(picker, _ID_SPACE), picker.randrange(_ID_SPACE)
        self._vin_mul, self._vin_add = (
            _coprime(picker, _VIN_SERIALS),
            picker.randrange(_VIN_SERIALS),
        )
        self._org_mul, self._org_add = (
            _coprime(picker, _ORG_DIGITS),
            picker.randrange(_ORG_DIGITS),
        )
        self._ma_mul, self._ma_add = _coprime(picker, _ORG_MA), picker.randrange(_ORG_MA)
        self._plate_mul, self._plate_add = (
            _coprime(picker, _PLATE_SPACE),
            picker.randrange(_PLATE_SPACE),
        )
        self._rates = tuple(
            tuple(
                min(Decimal(p.rate) + Decimal(adj), Decimal("0.12")) for _, adj in _RATE_ADJUSTMENTS
            )
            for p in _PRODUCTS
        )
        self._schedules = _SCHEDULES
        self._due_dates = _DUE_DATES

    # -- schedules --------------------------------------------------------------------

    def _amounts(
        self, principal: int, rate: Decimal, term: int, method: RepaymentMethod, balloon: Decimal
    ) -> tuple[tuple[Decimal, ...], array, array]:
        """Per period: payment (Decimal), payment in fen, payoff in fen (balance before + interest).

        Equal payments share one Decimal object, so a cached 等额本息 schedule costs little.
        """
        key = (principal, rate, term, method, balloon)
        found = self._schedules.get(key)
        if found is not None:
            return found
        schedule = build_schedule(
            LoanTerms(
                principal=Decimal(principal).quantize(_FEN),
                annual_rate=rate,
                term_months=term,
                method=method,
                disbursement_date=_CANON_DATE,
                balloon_pct=balloon,
            )
        )
        shared: dict[Decimal, Decimal] = {}
        payments = tuple(shared.setdefault(i.payment, i.payment) for i in schedule.installments)
        pay_fen = array("q", (int(i.payment * 100) for i in schedule.installments))
        payoff = array("q", (int((i.balance + i.payment) * 100) for i in schedule.installments))
        if len(self._schedules) >= _SCHEDULE_CACHE_LIMIT:
            self._schedules.clear()
        self._schedules[key] = found = (payments, pay_fen, payoff)
        return found

    def _dues(self, d0: date) -> tuple[date, ...]:
        """Sixty monthly due dates from a disbursement date (a term takes its first n)."""
        found = self._due_dates.get(d0.toordinal())
        if found is None:
            found = contractual_due_dates(
                LoanTerms(
                    principal=Decimal(1),
                    annual_rate=Decimal(0),
                    term_months=60,
                    method=RepaymentMethod.EQUAL_INSTALLMENT,
                    disbursement_date=d0,
                )
            )
            if len(self._due_dates) >= _SCHEDULE_CACHE_LIMIT:
                self._due_dates.clear()
            self._due_dates[d0.toordinal()] = found
        return found

    # -- people -----------------------------------------------------------------------

    def _name(self, male: bool) -> str:
        r = self._rng.random
        surname = _SURNAME_LIST[bisect_right(_SURNAME_CUM, r())]
        chars = _MALE_CHARS if male else _FEMALE_CHARS
        n = len(chars)
        if r() < 0.22:
            return surname + chars[int(r() * n)]
        return surname + chars[int(r() * n)] + chars[int(r() * n)]

    def _resident_id(self, index: int, role: int, area: str, d0: date, male: bool) -> str:
        """A valid 18-digit ID, age 22-60 at `d0`, unique per (loan index, role)."""
        r = self._rng.random
        slot = (self._id_mul * (2 * index + role) + self._id_add) % _ID_SPACE
        seq, cls = divmod(slot, _ID_PERIOD)  # seq < 500, cls < 4800
        d0_ord = d0.toordinal()
        hi = d0_ord - 8038  # at least 22 full years old
        lo = d0_ord - 22270  # at most 60
        age_years = 24 + 30 * (r() + r() + r()) / 3  # peaks in the mid-thirties
        target = d0_ord - int(age_years * 365.25)
        birth = target + (cls - target) % _ID_PERIOD
        if birth > hi or (birth - target > _ID_PERIOD // 2 and birth - _ID_PERIOD >= lo):
            birth -= _ID_PERIOD
        while birth < lo:
            birth += _ID_PERIOD
        b = date.fromordinal(birth)
        seq3 = seq * 2 + (1 if male else 0)
        first17 = f"{area}{b.year:04d}{b.month:02d}{b.day:02d}{seq3:03d}"
        return first17 + resident_id_check_digit(first17)

    def _mobile(self) -> str:
        r = self._rng.random
        return f"{_MOBILE_PREFIXES[int(r() * len(_MOBILE_PREFIXES))]}{int(r() * 1e8):08d}"

    def _landline(self, branch: _Branch) -> str:
        r = self._rng.random
        return f"{branch.phone_area}-{2 + int(r() * 7)}{int(r() * 1e7):07d}"

    def _address(self, branch: _Branch) -> str:
        r = self._rng.random
        district = branch.districts[int(r() * len(branch.districts))][1]
        road = _ROADS[int(r() * len(_ROADS))]
        community = _COMMUNITIES[int(r() * len(_COMMUNITIES))]
        floor = 1 + int(r() * 30)
        return (
            f"{branch.address_prefix}{district}{road}{1 + int(r() * 399)}号{community}"
            f"{1 + int(r() * 28)}栋{1 + int(r() * 4)}单元{floor}{1 + int(r() * 6):02d}室"
        )

    def _uscc(self, index: int, individual_business: bool, branch: _Branch) -> str:
        r = self._rng.random
        area = branch.districts[int(r() * len(branch.districts))][0]
        if r() < 0.35:  # codes converted from pre-2015 organization codes: 8 digits
            body = f"{(self._org_mul * index + self._org_add) % _ORG_DIGITS:08d}"
        else:  # newly registered: MA + 6 characters
            n = (self._ma_mul * index + self._ma_add) % _ORG_MA
            chars = []
            for _ in range(6):
                n, k = divmod(n, 31)
                chars.append(USCC_ALPHABET[k])
            body = "MA" + "".join(chars)
        first17 = f"9{'2' if individual_business else '1'}{area}{body}"
        first17 += org_code_check_char(body)
        return first17 + uscc_check_char(first17)

    # -- vehicles ---------------------------------------------------------------------

    def _vin(self, index: int, model_index: int, fuel: str, model_year: int) -> str:
        m = _MODELS[model_index]
        serial = (self._vin_mul * index + self._vin_add) % _VIN_SERIALS
        plant = _VIN_CHARS[(index // _VIN_SERIALS + 7 * model_index + model_year) % 33]
        vin = (
            f"{m.wmi}{_MODEL_VDS[model_index]}{_FUEL_VIN_CHAR[fuel]}0"
            f"{_model_year_code(model_year)}{plant}{serial:06d}"
        )
        return vin[:8] + vin_check_digit(vin) + vin[9:]

    def _plate(self, index: int, branch: _Branch, fuel: str) -> str:
        r = self._rng.random
        city = branch.plate_letters[int(r() * len(branch.plate_letters))]
        n = (self._plate_mul * index + self._plate_add) % _PLATE_SPACE
        if fuel in _NEV_FUELS:  # small NEV plate: D (pure electric) / F + letter-or-digit + 4
            kind = "D" if fuel == "bev" else "F"
            second = "0123456789ABCDEFGHJKLMNPQRSTUVWXYZ"[n % 34]
            return f"{branch.plate_province}{city}{kind}{second}{(n // 34) % 10000:04d}"
        u = r()
        if u < 0.15:
            body = f"{n % 100000:05d}"
        elif u < 0.55:
            body = f"{_PLATE_LETTERS[n % 24]}{(n // 24) % 10000:04d}"
        elif u < 0.80:
            body = (
                f"{_PLATE_LETTERS[n % 24]}{_PLATE_LETTERS[(n // 24) % 24]}{(n // 576) % 1000:03d}"
            )
        else:
            body = f"{n % 10}{_PLATE_LETTERS[(n // 10) % 24]}{(n // 240) % 1000:03d}"
        return f"{branch.plate_province}{city}{body}"

    # -- one loan ---------------------------------------------------------------------

    def stream(self, start: int, stop: int) -> Iterator[DemoLoan]:
        """Loans `start` to `stop`. The generator is reseeded every `_BLOCK` loans, so a
        slice starts at its block's first loan and skips the few before `start`."""
        make = self.make
        reseed = self._rng.seed
        base = self._base
        for index in range(start - start % _BLOCK, stop):
            if index % _BLOCK == 0:
                reseed(base | (index // _BLOCK))
            loan = make(index)
            if index >= start:
                yield loan

    def make(self, index: int) -> DemoLoan:
        """Loan `index`; draws from the generator as seeded for its block (see `stream`)."""
        rng = self._rng
        r = rng.random
        as_of = self.as_of

        u = r()
        archetype = (
            ON_TIME if u < 0.70 else LATE if u < 0.85 else DEFAULTER if u < 0.92 else EARLY_REPAYER
        )
        branch = _BRANCHES[bisect_right(_BRANCH_CUM, r())]
        business = r() < BUSINESS_SHARE
        score = int(rng.gauss(_SCORE_MEAN[archetype], 55))
        score = 450 if score < 450 else 850 if score > 850 else score

        # vehicle
        used = r() < USED_SHARE
        model_index = bisect_right(_MODEL_CUM_BUSINESS if business else _MODEL_CUM_INDIVIDUAL, r())
        model = _MODELS[model_index]
        fuel = model.fuels[bisect_right(_MODEL_FUEL_CUM[model_index], r())][0]
        nev = fuel in _NEV_FUELS
        list_price = model.price_lo + int(r() * (model.price_hi - model.price_lo))
        list_price = max(model.price_lo, (list_price // 1000) * 1000 - 200)

        # borrower
        occupation = None
        if business:
            purpose = "commercial" if r() < 0.6 else "self-use"
        else:
            occupation = _OCCUPATIONS[bisect_right(_OCCUPATION_CUM, r())]
            purpose = "commercial" if occupation[0] in ("网约车司机", "货运司机") else "self-use"

        # product, term, rate
        if used:
            product_index = _P_USED
        elif business:
            u = r()
            product_index = _P_IF if u < 0.55 else _P_EI if u < 0.85 else _P_EP
        elif nev:
            u = r()
            product_index = (
                _P_NEV if u < 0.55 else _P_EI if u < 0.80 else _P_BALLOON if u < 0.90 else _P_EP
            )
        else:
            u = r()
            product_index = _P_EI if u < 0.60 else _P_EP if u < 0.75 else _P_BALLOON
        product = _PRODUCTS[product_index]
        if product.method is RepaymentMethod.INTEREST_FIRST and purpose == "self-use":
            purpose = "commercial" if r() < 0.5 else purpose
        months, cum = _PRODUCT_TERMS[product_index]
        term = months[bisect_right(cum, r())]
        tier = 0
        while score < _RATE_ADJUSTMENTS[tier][0]:
            tier += 1
        rate = self._rates[product_index][tier]
        method = product.method
        balloon = (
            _BALLOON_PCTS[int(r() * len(_BALLOON_PCTS))]
            if method is RepaymentMethod.BALLOON
            else None
        )

        # disbursement: five years back, more loans recently; a defaulter's loan is old enough
        # for its days past due and still running when it stopped paying
        span = HISTORY_YEARS * 365
        target_dpd = 0
        earliest, latest = 1, span
        if archetype == DEFAULTER:
            lo_dpd, hi_dpd, _ = _DEFAULT_DPD[bisect_right(_DPD_CUM, r())]
            target_dpd = lo_dpd + int(r() * (hi_dpd - lo_dpd + 1))
            earliest = min(target_dpd + 35, span - 1)
            latest = min(span, target_dpd + term * 30 - 20)
        recency = r() if r() < 0.5 else r() ** 0.5
        days_back = earliest + int((latest - earliest) * (1 - recency))
        d0 = as_of - _DAYS[days_back]
        weekday = d0.weekday()
        if weekday >= 5:  # disbursed on working days: back to Friday
            days_back += weekday - 4
            d0 = as_of - _DAYS[days_back]

        if used:
            age = 1 + int(6 * r() * r() + 2 * r())  # 1-8 years, mostly 2-4
            model_year = d0.year - age
            keep = (0.80 if nev else 0.86) ** age * (0.9 + 0.2 * r())
            price = max(20000, int(list_price * keep / 100) * 100)
            mileage = int(age * (8000 + 14000 * r()) / 100) * 100
            first_reg = date(model_year, 1 + int(r() * 12), 1 + int(r() * 28))
            condition = "used"
        else:
            model_year = d0.year + (1 if d0.month >= 9 and r() < 0.4 else 0)
            price = list_price - int(r() * 8) * 1000 if r() < 0.6 else list_price
            mileage = int(r() * 60)
            first_reg = d0 - _DAYS[int(r() * 8)]
            condition = "new"

        # down payment 20-50 % (30 % for used cars and commercial use); riskier: less
        dp_min = 0.30 if used or purpose == "commercial" or product_index == _P_IF else 0.20
        skew = 2.5 if archetype == DEFAULTER or score < 600 else 1.4
        dp_ratio = dp_min + (0.49 - dp_min) * r() ** skew
        principal = _round_principal(price, dp_ratio, dp_min)
        down_payment = price - principal

        contract_no = f"HF{branch.code}{d0.year}{index + 1:07d}"
        row = self._borrower(index, branch, business, occupation, d0, price, score, archetype)
        plate = None
        if used or days_back > 20 or r() < 0.5:
            plate = self._plate(index, branch, fuel)
        else:
            first_reg = None
        row.update(
            contract_no=contract_no,
            branch_code=branch.code,
            product_code=product.code,
            vin=self._vin(index, model_index, fuel, model_year),
            plate=plate,
            brand=model.brand,
            model=model.model,
            model_year=model_year,
            vehicle_segment=model.segment,
            vehicle_condition=condition,
            fuel_type=fuel,
            vehicle_price=Decimal(price).quantize(_FEN),
            first_registration_date=first_reg,
            mileage_km=mileage,
            loan_purpose=purpose,
            down_payment=Decimal(down_payment).quantize(_FEN),
            principal=_PRINCIPALS.get(principal) or _principal_decimal(principal),
            annual_rate=rate,
            term_months=term,
            repayment_method=_METHOD_VALUES[product_index],
            balloon_pct=balloon,
            disbursement_date=d0,
            repayment_day=d0.day,
            credit_score=score,
        )

        payments, status, closed = self._history(
            contract_no,
            archetype,
            business,
            d0,
            self._amounts(principal, rate, term, method, balloon or _NO_BALLOON),
            term,
            target_dpd,
            product.lock_in,
            float(rate),
        )
        row["status"] = status
        row["closed_date"] = closed
        return DemoLoan(index, row, payments, archetype)

    def _borrower(
        self,
        index: int,
        branch: _Branch,
        business: bool,
        occupation: tuple | None,
        d0: date,
        price: int,
        score: int,
        archetype: str,
    ) -> dict[str, object]:
        r = self._rng.random
        local = r() < 0.75
        area = (
            branch.districts[int(r() * len(branch.districts))][0]
            if local
            else _HOMETOWN_AREAS[int(r() * len(_HOMETOWN_AREAS))]
        )
        male = r() < (0.78 if business else 0.66)
        person = self._name(male)
        person_id = self._resident_id(index, 0, area, d0, male)
        mobile = self._mobile()
        row: dict[str, object] = dict.fromkeys(LOAN_FIELDS)
        if business:
            industry, company_suffix, shop_suffix, _ = _BUSINESS_INDUSTRIES[
                bisect_right(_INDUSTRY_CUM, r())
            ]
            shop = r() < 0.3  # 个体工商户
            district = branch.districts[int(r() * len(branch.districts))][1]
            if shop:
                name = f"{branch.city}{district}{person[0]}记{shop_suffix}"
            else:
                word = _COMPANY_WORDS[int(r() * len(_COMPANY_WORDS))]
                word2 = _COMPANY_WORDS[int(r() * len(_COMPANY_WORDS))]
                name = f"{branch.city_short}{word}{word2}{company_suffix}有限公司"
            row.update(
                borrower_type="business",
                borrower_name=name,
                id_number=self._uscc(index, shop, branch),
                mobile=mobile,
                address=self._address(branch),
                industry=industry,
                employer_phone=self._landline(branch),
                monthly_income=Decimal(int(price * (0.2 + 0.5 * r()) / 1000) * 1000).quantize(_FEN),
                self_employed=shop,
                legal_rep_name=person,
                legal_rep_id_number=person_id,
            )
            if r() < 0.85:
                row.update(
                    emergency_name=self._name(r() < 0.5),
                    emergency_relation=_BUSINESS_CONTACT_RELATIONS[int(r() * 3)],
                    emergency_mobile=self._mobile(),
                )
            if r() < (0.6 if score < 620 else 0.4):
                row.update(
                    guarantor_name=person,
                    guarantor_id_number=person_id,
                    guarantor_mobile=mobile,
                    guarantor_relation="法定代表人",
                )
            elif r() < 0.2:
                self._guarantor(row, index, branch, d0, "股东")
            return row

        occ, industry, self_employed, employer_kind, _, income_factor = occupation  # type: ignore[misc]
        employer = None
        if employer_kind == "company":
            word = _COMPANY_WORDS[int(r() * len(_COMPANY_WORDS))]
            word2 = _COMPANY_WORDS[int(r() * len(_COMPANY_WORDS))]
            employer = (
                f"{branch.city_short}{word}{word2}{_COMPANY_SUFFIX.get(industry, '实业')}有限公司"
            )
        elif employer_kind == "school":
            employer = f"{branch.city}第{1 + int(r() * 40)}中学"
        elif employer_kind == "hospital":
            employer = f"{branch.city}第{1 + int(r() * 12)}人民医院"
        elif employer_kind == "government":
            district = branch.districts[int(r() * len(branch.districts))][1]
            employer = f"{branch.city}{district}人民政府"
        elif employer_kind == "bank":
            bank = ("工商银行", "建设银行", "农业银行", "中国银行", "招商银行")[int(r() * 5)]
            employer = f"{bank}{branch.city_short}分行"
        elif employer_kind == "shop":
            employer = f"{person[0]}记{('商行', '便利店', '饭店', '五金店')[int(r() * 4)]}"
        income = max(3000, int(price * (0.045 + 0.06 * r()) * income_factor / 100) * 100)
        row.update(
            borrower_type="individual",
            borrower_name=person,
            id_number=person_id,
            mobile=mobile,
            address=self._address(branch),
            occupation=occ,
            industry=industry,
            employer=employer,
            employer_phone=self._landline(branch) if employer and r() < 0.9 else None,
            monthly_income=Decimal(income).quantize(_FEN),
            self_employed=self_employed,
        )
        age = (d0.year - int(person_id[6:10])) if person_id else 30
        if age >= 25 and r() < 0.68:
            row.update(spouse_name=self._name(not male), spouse_mobile=self._mobile())
        if r() < 0.9:
            row.update(
                emergency_name=self._name(r() < 0.5),
                emergency_relation=_EMERGENCY_RELATIONS[int(r() * len(_EMERGENCY_RELATIONS))],
                emergency_mobile=self._mobile(),
            )
        risky = score < 600 or (archetype == DEFAULTER and r() < 0.3)
        if r() < (0.30 if risky else 0.07):
            relation = _GUARANTOR_RELATIONS[int(r() * len(_GUARANTOR_RELATIONS))]
            self._guarantor(row, index, branch, d0, relation)
        return row

    def _guarantor(
        self, row: dict[str, object], index: int, branch: _Branch, d0: date, relation: str
    ) -> None:
        r = self._rng.random
        male = r() < 0.6
        area = (
            branch.districts[int(r() * len(branch.districts))][0]
            if r() < 0.7
            else _HOMETOWN_AREAS[int(r() * len(_HOMETOWN_AREAS))]
        )
        row.update(
            guarantor_name=self._name(male),
            guarantor_id_number=self._resident_id(index, 1, area, d0, male),
            guarantor_mobile=self._mobile(),
            guarantor_relation=relation,
        )

    # -- payment history --------------------------------------------------------------

    def _history(
        self,
        contract_no: str,
        archetype: str,
        business: bool,
        d0: date,
        amounts: tuple[tuple[Decimal, ...], array, array],
        term: int,
        target_dpd: int,
        lock_in: int,
        annual_rate: float,
    ) -> tuple[list[dict[str, object]], str, date | None]:
        """Payment rows, status and closed date of one loan up to `as_of`."""
        r = self._rng.random
        as_of = self.as_of
        dues = self._dues(d0)
        due_count = bisect_right(dues, as_of, 0, term)
        pay, pay_fen, payoff = amounts
        rows: list[dict[str, object]] = []
        append = rows.append
        days = _DAYS

        u = r()
        if business:
            channel = "对公转账" if u < 0.5 else "代扣" if u < 0.9 else "柜面"
        else:
            channel = "代扣" if u < 0.78 else "线上" if u < 0.92 else "柜面"
        auto_debit = channel == "代扣"

        def add(paid_on: date, amount: Decimal, kind: str, via: str) -> None:
            append(
                {
                    "txn_ref": contract_no + _TXN_SEQ[len(rows)],
                    "contract_no": contract_no,
                    "paid_on": paid_on,
                    "amount": amount,
                    "payment_type": kind,
                    "channel": via,
                    "reverses_txn_ref": None,
                }
            )

        def pay_on_time(upto: int, last: date) -> date:
            """Installments len(rows).. upto-1 exactly, on or a few days before the due date."""
            for k in range(len(rows), upto):
                paid = dues[k]
                if not auto_debit:
                    paid -= days[int(r() * 4)]
                    if paid < last:
                        paid = last
                last = paid
                append(
                    {
                        "txn_ref": contract_no + _TXN_SEQ[k],
                        "contract_no": contract_no,
                        "paid_on": paid,
                        "amount": pay[k],
                        "payment_type": "repayment",
                        "channel": channel,
                        "reverses_txn_ref": None,
                    }
                )
            return last

        if archetype == ON_TIME:
            last = pay_on_time(due_count, d0)
            if due_count == term:
                return rows, "closed", last
            return rows, "active", None

        if archetype == EARLY_REPAYER:
            first = max(lock_in + 1, 2)
            candidates = min(due_count, term - 1) - first + 1
            if candidates <= 0:  # too young (or too short) to have prepaid yet
                last = pay_on_time(due_count, d0)
                if due_count == term:
                    return rows, "closed", last
                return rows, "active", None
            period = first + int(r() * r() * candidates)  # 1-based, earlier more likely
            last = pay_on_time(period - 1, d0)
            paid = dues[period - 1] - days[int(r() * 10)]
            if paid < last:
                paid = last
            via = "对公转账" if business else ("线上", "柜面")[int(r() * 2)]
            add(paid, _money(payoff[period - 1]), "prepayment", via)
            return rows, "closed", paid

        # late payers and defaulters: installments 0..stop-1 are paid, some of them late
        stop = due_count
        late_chance = 0.28
        if archetype == DEFAULTER:
            late_chance = 0.15
            threshold = as_of - days[target_dpd]
            # the first unpaid installment: the first one due on or after the threshold, or,
            # when that is not overdue yet, the one before (d0 is early enough to have one)
            stop = bisect_right(dues, threshold - days[1], 0, term)
            if stop >= due_count or dues[stop] >= as_of:
                stop -= 1
        status = "active"
        closed: date | None = None
        last = d0
        k = 0
        while k < stop:
            due = dues[k]
            if r() >= late_chance:
                paid = due
                if not auto_debit:
                    paid -= days[int(r() * 4)]
                    if paid < last:
                        paid = last
                last = paid
                append(
                    {
                        "txn_ref": contract_no + _TXN_SEQ[len(rows)],
                        "contract_no": contract_no,
                        "paid_on": paid,
                        "amount": pay[k],
                        "payment_type": "repayment",
                        "channel": channel,
                        "reverses_txn_ref": None,
                    }
                )
                k += 1
                continue
            delay = 1 + int(44 * r() ** 2.2)
            paid = due + days[delay]
            if paid > as_of:
                break  # currently overdue
            j = k + 1
            while j < stop and dues[j] <= paid:
                j += 1  # catching up: everything due by then in one go
            fen = sum(pay_fen[k:j])
            # penalty on the overdue installments (an upper bound: charged on the whole
            # installment, the rules charge it on principal), rounded up to the yuan
            daily = annual_rate * float(_PENALTY_MULTIPLIER) / 360
            overdue_days_fen = sum(pay_fen[i] * (paid - dues[i]).days for i in range(k, j))
            fen += -(-int(overdue_days_fen * daily + 1) // 100) * 100
            via = channel if r() < 0.4 else ("线上", "柜面")[int(r() * 2)]
            if delay >= 3 and r() < 0.25:  # two partial payments
                first_part = int(fen * (0.3 + 0.4 * r()) / 1000) * 1000
                if 0 < first_part < fen:
                    part_day = due + days[1 + int(r() * (delay - 1))]
                    add(
                        part_day if part_day >= last else last, _money(first_part), "repayment", via
                    )
                    fen -= first_part
            last = paid
            add(paid, _money(fen), "repayment", via)
            k = j
        if archetype == LATE:
            if k == term:
                status, closed = "closed", last
            return rows, status, closed
        if k < term and dues[k] < as_of:
            gap = (as_of - dues[k]).days
            if gap >= 5 and r() < 0.35:  # small partial payments after stopping
                remaining = int(pay_fen[k] * 0.8)
                for _ in range(1 + int(r() * 2)):
                    part = int(pay_fen[k] * (0.1 + 0.25 * r()) / 10000) * 10000
                    if part <= 0 or part > remaining:
                        break
                    remaining -= part
                    paid = dues[k] + days[1 + int(r() * (gap - 1))]
                    last = paid if paid >= last else last
                    add(last, _money(part), "repayment", ("线上", "柜面")[int(r() * 2)])
            if gap > 360 and r() < 0.3:
                status = "written-off"
        return rows, status, closed
