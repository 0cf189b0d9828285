"""Titles and step details in plain Simplified Chinese, as grid workers and dispatchers write.

Each category has a few titles, report bodies and handling notes with slots for local names
(village, town, a road named after them, a river, a spot such as "新街社区3幢楼下"), so a
dashboard shows texts that fit the map. Phone numbers appear in a few hotline/app/WeChat
reports only: a later masking feature needs something to mask, but not everywhere.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from feeds.catalogue import CATEGORIES
from feeds.sim.simtime import to_datetime

MIN_DETAIL, MAX_DETAIL = 20, 150
PHONE_SHARE = 0.04  # of hotline/app/WeChat reports that quote a contact number

_SUFFIXES = ("街道办事处", "街道", "社区", "居委会", "村委会", "村", "镇", "乡", "区", "县", "市")
_ROAD_ENDS = ("路", "东路", "西路", "南路", "北路", "中路", "街", "大道")
_COMMON_ROADS = ("人民路", "建设路", "文化路", "中心路", "工业路", "新华路", "环城路", "兴业路")
_RIVER_ENDS = ("河", "江", "浦", "塘河", "溪")
_SHOPS = ("小吃店", "早餐店", "水果店", "便利店", "面馆", "烧烤店", "五金店", "快餐店")
_CAUSES = ("噪音扰民", "楼上漏水", "车位占用", "楼道堆物", "饲养宠物", "装修噪音", "空调滴水")
_SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何林罗郑"
_SPOTS = (
    "{v}{n}幢楼下", "{road}{n}号门口", "{v}菜市场旁", "{v}公交站附近", "{road}与{road2}交叉口",
    "{v}文化礼堂前", "{v}小区东门", "{v}小区南门", "{v}篮球场旁", "{road}桥下",
)

# code: (titles, report bodies, handling notes); the i-th title goes with the i-th body, and
# handling notes fit every body of their category
_CATEGORY_TEXTS: dict[str, tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]] = {
    "zz01": (
        ("{v}邻里因{cause}发生纠纷", "{spot}两户居民发生争执", "{v}租户与房东押金纠纷",
         "{v}村民宅基地边界纠纷", "{road}商户与顾客发生争执"),
        ("{spot}两户居民因{cause}问题发生口角，双方情绪较为激动，需要上门调解。",
         "{v}一名租户反映房东拒不退还押金{money}元，双方多次协商未果，请求调解。",
         "{v}两户村民因宅基地边界问题发生争执，已有推搡行为，请求尽快介入调处。",
         "{road}{n}号一家商户与顾客因退换货问题发生争吵，围观群众较多。",
         "{spot}楼上楼下住户因{cause}问题长期不和，今日再次发生争吵。"),
        ("网格员会同人民调解员上门调解，双方达成和解，签订调解协议。",
         "经现场协调，双方各退一步，矛盾已化解，网格员将持续跟踪。"),
    ),
    "zz02": (
        ("{spot}路灯损坏存在治安隐患", "{v}发现可疑人员徘徊", "{road}附近电动车被盗",
         "{v}出入口监控损坏", "{spot}夜间有人聚集喧哗"),
        ("{spot}一带路灯已损坏多日，夜间照明不足，居民反映存在安全隐患。",
         "{v}有陌生人员多次在楼道内徘徊，挨家查看门锁，居民担心安全。",
         "{road}{n}号附近近期多次发生电动车被盗，请求加强夜间巡逻。",
         "{v}出入口监控探头损坏，无法正常录像，存在治安盲区。",
         "{spot}夜间经常有人聚集喝酒喧哗，影响周边居民休息。"),
        ("已联系辖区派出所加强巡逻防控，损坏设施已报修。",
         "民警和网格员到场核查，已加强巡防并做好群众解释工作。"),
    ),
    "zz03": (
        ("{v}企业厂房违规堆放易燃物", "{road}工地基坑未设防护", "{v}民房小作坊存在隐患",
         "{spot}脚手架搭设不规范", "{road}餐饮店液化气钢瓶违规存放"),
        ("{v}一家企业厂房内堆放大量油漆桶和纸箱，未设隔离，安全通道被占用。",
         "{road}在建工地基坑边缘未设防护栏，夜间无警示灯，行人经过存在风险。",
         "{v}一处民房内开设小作坊，使用冲床等设备，电线私拉乱接，存在安全隐患。",
         "{spot}外墙脚手架搭设不规范，作业人员未系安全带进行高空作业。",
         "{road}{n}号一家餐饮店在后厨存放多个液化气钢瓶，未安装燃气报警装置。"),
        ("已责令责任单位立即整改，隐患已消除，将适时开展复查。",
         "应急管理部门到场检查，已责令停工整改并设置警示围挡。"),
    ),
    "zz04": (
        ("{spot}楼道电动车充电", "{v}消防通道被占用", "{road}沿街店铺灭火器过期",
         "{spot}发现冒烟请核查", "{v}出租房“三合一”住人"),
        ("{spot}楼道内有居民私拉电线给电动车充电，存在火灾隐患。",
         "{v}小区消防通道被私家车长期占用，消防车无法通行。",
         "{road}多家沿街店铺灭火器已过期，部分店铺存在“三合一”住人情况。",
         "{spot}附近有烟雾冒出，疑似有人焚烧杂物，请尽快到场核查处置。",
         "{v}一处出租房一楼经营、二楼仓储、阁楼住人，未设防火分隔。"),
        ("消防救援站和网格员到场处置，隐患已消除，已对当事人进行安全教育。",
         "已督促当事人整改到位，隐患已消除，并张贴消防安全提示。"),
    ),
    "zz05": (
        ("{v}独居老人需上门查看", "{v}社区矫正对象未按时报到", "{v}精神障碍患者情绪不稳",
         "{v}困境儿童需要帮扶"),
        ("{v}一名独居老人近两天未出门，邻居敲门无人应答，请网格员上门查看。",
         "{v}一名社区矫正对象本周未按时报到，电话联系不上，需要核实去向。",
         "{v}一名精神障碍患者近日情绪不稳定，在楼下大声吵闹，家属请求协助。",
         "{v}一名留守儿童父母外出务工，由年迈的祖母照看，生活较为困难。"),
        ("网格员会同社工上门走访，已落实结对帮扶，当事人情况稳定。",
         "已联系家属和社区医生，当事人已得到妥善安置。"),
    ),
    "zz06": (
        ("{v}村民反映征迁补偿问题", "{spot}工人聚集讨要工资", "{t}群众反映历史遗留问题",
         "{v}业主反映房屋质量问题"),
        ("{v}部分村民对征地拆迁补偿标准有异议，准备集体上访，需提前化解。",
         "{spot}约{n}名工人聚集讨要拖欠工资，情绪激动，需劳动监察部门介入。",
         "{v}群众反映多年前的土地承包问题一直未得到解决，要求给予答复。",
         "{v}小区多名业主反映新房外墙开裂、渗水，开发商推诿，准备集体维权。"),
        ("已约谈相关单位，明确解决时间表，群众情绪已稳定。",
         "已协调相关部门现场答复诉求，群众表示理解，已劝返。"),
    ),
    "zz07": (
        ("{v}出租房屋未登记", "{spot}疑似群租房", "{v}流动人口信息未申报",
         "{road}{n}号出租房人员变动频繁"),
        ("{v}一处出租房屋新入住{n}名租客，房东未按规定办理出租登记。",
         "{spot}一套住房被隔成多个小间出租，居住人员较多，存在安全隐患。",
         "{v}新来务工人员未申报居住登记，网格员入户采集信息未果。",
         "{road}{n}号出租房近期人员进出频繁，邻居反映情况异常。"),
        ("已督促房东办理出租登记，租客信息已采集录入系统。",
         "已约谈房东落实主体责任，并开展出租房屋消防安全检查。"),
    ),
    "sc01": (
        ("{road}{shop}卫生条件差", "{v}流动摊贩售卖无标签食品", "{spot}早餐店疑似使用过期原料",
         "{v}学校周边售卖“三无”食品"),
        ("{road}{n}号{shop}后厨卫生条件差，苍蝇较多，从业人员未戴口罩。",
         "{v}路口有流动摊贩售卖散装熟食，没有任何标签，来源不明。",
         "群众反映{spot}一家早餐店使用过期面粉，吃后出现肠胃不适。",
         "{v}学校周边小店售卖“三无”辣条等零食，学生购买较多。"),
        ("市场监管所执法人员现场检查，已责令整改并下架问题食品。",
         "已对涉事商户立案调查，抽检样品已送检，结果将及时公布。"),
    ),
    "sc02": (
        ("{road}药店违规销售处方药", "{v}诊所存放过期药品", "{v}有人上门推销“保健品”"),
        ("{road}{n}号一家药店未凭处方销售抗生素类处方药。",
         "{v}一家个体诊所药柜内发现多盒过期药品，仍在使用。",
         "{v}有人以免费体检为名向老人推销所谓“特效保健品”，价格高昂。"),
        ("执法人员现场检查，问题药品已封存，已立案调查处理。",
         "已对相关人员和场所依法查处，并开展药品安全宣传。"),
    ),
    "sc03": (
        ("{road}店铺无照经营", "{v}民房内无证开设棋牌室", "{spot}无证废品收购点",
         "{v}无证小作坊加工食品"),
        ("{road}{n}号一家{shop}开业已有数月，一直未办理营业执照。",
         "{v}一处民房内无证开设棋牌室，夜间人员进出频繁，噪音扰民。",
         "{spot}有人私设废品收购点，废品堆放杂乱，影响周边环境。",
         "{v}一处民房内无证加工豆制品，卫生条件较差。"),
        ("已责令停止经营，并指导经营者办理相关证照。",
         "执法人员现场取缔无证经营点，相关物品已依法暂扣。"),
    ),
    "sc04": (
        ("{t}农贸市场摊位缺斤短两", "{road}商店明码标价不规范", "{road}加油站计量存疑",
         "{v}停车场收费不公示"),
        ("群众反映{t}农贸市场一摊位电子秤缺斤短两，称重明显不足。",
         "{road}{n}号一家{shop}商品未明码标价，结账时价格与标签不符。",
         "有车主反映{road}一处加油站加油量与显示不符，怀疑计量有问题。",
         "{v}一处停车场未公示收费标准，收费随意，群众意见较大。"),
        ("执法人员现场检查，已责令整改，问题计量器具已依法处理。",
         "已督促商家规范明码标价，并退还多收费用。"),
    ),
    "sc05": (
        ("{v}小区电梯频繁故障", "{spot}电梯困人", "{v}企业锅炉未按期检验",
         "{spot}游乐设施存在隐患"),
        ("{v}小区{n}幢电梯近一周多次停运，居民出行不便，担心安全。",
         "{spot}电梯发生困人，已有人员被困约十分钟，请求尽快救援。",
         "{v}一家企业锅炉已超过检验有效期，仍在继续使用。",
         "{spot}儿童游乐设施螺丝松动，运转时有明显异响。"),
        ("维保单位到场检修，设备已恢复正常运行，已督促加强日常维保。",
         "特种设备安全监察人员到场检查，已责令停用整改。"),
    ),
    "zf01": (
        ("{v}村民违规加层建房", "{spot}楼顶违章搭建", "{road}沿街私自搭建雨棚",
         "{v}农田内新建违章用房"),
        ("{v}一户村民未经审批在原有房屋上加建一层，目前正在施工。",
         "{spot}顶楼住户在屋顶搭建阳光房，已基本完工，邻居反映影响采光。",
         "{road}{n}号沿街商户私自搭建雨棚，占用公共空间。",
         "{v}有人在农田内新建简易用房，面积约{area}平方米。"),
        ("综合执法中队现场查处，已下达限期拆除通知书。",
         "当事人已自行拆除违章搭建部分，现场已恢复原状。"),
    ),
    "zf02": (
        ("{spot}垃圾堆积未清运", "{road}沿街乱贴小广告", "{v}绿化带被毁种菜",
         "{spot}建筑垃圾乱堆放", "{spot}垃圾桶满溢"),
        ("{spot}生活垃圾堆积已有两天未清运，气味较大，蚊蝇滋生。",
         "{road}沿街电线杆和墙面被大量张贴小广告，影响市容。",
         "{v}公共绿化带被部分居民毁绿种菜，并搭设竹架。",
         "{spot}有人倾倒装修垃圾，堆放在路边，占用部分通道。",
         "{spot}垃圾桶已经满溢，垃圾散落一地，请及时清运。"),
        ("已通知环卫作业人员及时清运，现场已清理干净。",
         "已组织保洁人员清理整治，并对周边区域加强巡查。"),
    ),
    "zf03": (
        ("{road}流动摊贩占道经营", "{spot}店外经营占用人行道", "{v}早市摊位占道",
         "{road}夜宵摊占道经营"),
        ("{road}路边有多个流动摊贩占道售卖水果蔬菜，影响车辆和行人通行。",
         "{spot}多家商户将货物摆放到店外人行道上，行人只能走机动车道。",
         "{v}每天早上有摊贩在路口摆摊，造成道路拥堵。",
         "{road}{n}号附近夜宵摊占道经营至凌晨，油烟和噪音扰民。"),
        ("执法队员现场劝导，摊贩已引导至规定区域经营。",
         "已责令商户将物品收回店内，现场通行恢复正常。"),
    ),
    "zf04": (
        ("{road}餐饮店油烟扰民", "{v}企业夜间排放异味气体", "{spot}夜间施工噪音扰民",
         "{river}发现疑似排污"),
        ("{road}{n}号一家餐饮店油烟直排，未安装净化设施，楼上住户无法开窗。",
         "{v}附近企业夜间排放刺鼻异味气体，周边居民反映强烈。",
         "{spot}工地夜间施工至十一点以后，噪音很大，影响居民休息。",
         "{river}有一处排污口排放浑浊污水，河面有明显泡沫。"),
        ("生态环境执法人员现场检查，已责令整改并采样送检。",
         "已约谈责任单位，责令限期整改，将持续跟踪监测。"),
    ),
    "zf05": (
        ("{road}渣土车沿路抛洒", "{v}夜间偷倒渣土", "{road}渣土车未密闭运输"),
        ("{road}有渣土车沿路抛洒泥土，路面泥泞，车辆经过扬尘严重。",
         "{v}一处空地夜间有人偷倒渣土，已经堆成小山。",
         "{road}有多辆渣土车未密闭运输，车身未冲洗，带泥上路。"),
        ("已通知环卫清扫路面，并对涉事车辆立案查处。",
         "抛洒渣土已清运完毕，已在该路段加强巡查监控。"),
    ),
    "zf06": (
        ("{river}水面漂浮垃圾", "{river}有人违规捕鱼", "{river}护岸破损", "{river}水体发黑发臭"),
        ("{river}{v}段水面漂浮大量垃圾和水草，影响河道景观。",
         "{river}有人使用电瓶捕鱼，存在安全隐患并破坏水生态。",
         "{river}{v}段护岸石块松动滑落，存在坍塌风险。",
         "{river}部分河段水体发黑发臭，疑似有生活污水排入。"),
        ("河道保洁人员已打捞清理完毕，水面已恢复整洁。",
         "河长办已组织现场核查，相关问题已交办责任单位整改。"),
    ),
    "bm01": (
        ("{spot}窨井盖缺失", "{road}路面塌陷", "{spot}路灯不亮", "{road}人行道板松动",
         "{spot}雨水井堵塞积水"),
        ("{spot}一处窨井盖缺失，仅用树枝遮挡，行人和车辆经过容易发生危险。",
         "{road}{n}号附近路面出现塌陷，坑深约{depth}厘米，已有车辆托底。",
         "{spot}一段路灯连续多日不亮，夜间行人出行不便。",
         "{road}人行道板松动破损，雨天踩上去溅水，老人容易摔倒。",
         "{spot}雨水井被杂物堵塞，下雨后路面大面积积水。"),
        ("市政养护单位已到场维修，设施恢复正常使用。",
         "已先行设置临时围挡和警示标志，现维修工作已完成。"),
    ),
    "bm02": (
        ("{v}居民咨询养老补贴办理", "{v}老人申请居家助餐", "{v}停水未提前通知",
         "{spot}公共厕所无人保洁"),
        ("{v}一位老人咨询高龄津贴如何申请，需要网格员上门指导办理。",
         "{v}一位行动不便的老人希望申请居家助餐服务，请帮忙对接。",
         "{v}多户居民反映今天突然停水，事先没有收到任何通知。",
         "{spot}公共厕所多日无人保洁，卫生状况较差。"),
        ("网格员已上门对接，相关申请材料已协助提交。",
         "已联系相关单位核实情况并向居民解释，服务已恢复。"),
    ),
    "bm03": (
        ("{road}交通信号灯故障", "{spot}公交站牌损坏", "{road}机动车乱停放", "{spot}共享单车堆积"),
        ("{road}与{road2}交叉口信号灯故障，一直闪黄灯，车辆通行混乱。",
         "{spot}公交站牌被撞倒，候车亭玻璃碎裂，存在安全隐患。",
         "{road}两侧机动车乱停放，占用非机动车道，早晚高峰拥堵。",
         "{spot}共享单车大量堆积，占用人行道，行人无法通行。"),
        ("交警和相关部门已到场处置，现场交通秩序恢复正常。",
         "已协调相关单位限期整改，现场秩序已恢复正常。"),
    ),
    "bm04": (
        ("{v}小区物业服务不到位", "{v}小区电梯停运无人维修", "{v}小区楼道灯不亮",
         "{v}物业违规收取停车费"),
        ("{v}小区物业长期不清理楼道垃圾，绿化无人修剪，业主意见较大。",
         "{v}小区{n}幢电梯停运三天，物业一直未安排维修。",
         "{v}小区{n}幢楼道灯损坏多日，物业迟迟不修。",
         "{v}小区物业在未经业主大会同意的情况下上调停车费。"),
        ("已约谈物业公司负责人，督促限期整改，现已整改到位。",
         "社区组织物业和业主代表协商，问题已解决。"),
    ),
}

_SOURCE_PREFIX = {
    "grid_worker": "网格员巡查发现：",
    "hotline_12345": "市民来电反映：",
    "app": "群众通过APP反映：",
    "wechat": "网格微信群居民反映：",
    "inspection": "联合巡查发现：",
}
_OFFICES = {  # platform: (town office, county/city department)
    "zz": ("综治中心", "社会治理中心"),
    "sc": ("市场监管所", "市场监督管理局"),
    "zf": ("综合行政执法中队", "综合行政执法局"),
    "bm": ("便民服务中心", "政务服务中心"),
}
_STEP_TEXTS: dict[str, tuple[str, ...]] = {
    "dispatched": ("已分派至{unit}处置，请于{deadline}前办结。",
                   "经研判，交由{unit}负责处置，办结时限{deadline}。"),
    "accepted": ("{unit}已受理，安排人员赶赴现场核实处置。",
                 "{unit}已签收工单，正在联系反映人了解具体情况。"),
    "escalated": ("超出{lower}处置权限，上报{unit}协调处置。",
                  "{lower}无法独立解决，提请{unit}协调有关部门处置。"),
    "feedback": ("已电话回访反映人，对方对处置结果表示满意。",
                 "处置结果已告知反映人，群众表示认可，现场照片已上传。",
                 "已将处置情况反馈{v}，相关材料已归档备查。"),
    "closed": ("经{unit}核查，问题已解决，予以办结。",
               "经复核处置到位，回访群众满意，同意办结归档。",
               "复核通过，现场情况良好，问题未反弹，工单办结。"),
    "reopened": ("回访时群众反映问题仍未解决，工单重新打开。",
                 "复查发现问题出现反弹，退回{unit}重新处置。"),
}
_ON_SPOT_CLOSE = ("网格员现场处置完毕，经核实问题已解决，予以办结。",
                  "问题已当场解决，网格员上传处置前后照片，工单办结。")


@dataclass(frozen=True, slots=True)
class Scene:
    """The names around one incident, fixed when it is reported."""

    county: str
    town: str
    village: str
    grid: str
    category: str
    variant: int  # which title/body pair of the category
    slots: dict[str, str | int]

    @property
    def platform(self) -> str:
        return CATEGORIES[self.category].platform


def stem(name: str) -> str:
    """"新街社区" -> "新街": the part of a place name that roads and rivers are named after."""
    for suffix in _SUFFIXES:
        if name.endswith(suffix) and len(name) - len(suffix) >= 2:
            return name[: -len(suffix)]
    return name


def scene(rng: random.Random, names: tuple[str, str, str, str], category: str) -> Scene:
    """``names`` are the short names of county, town, village and grid."""
    county, town, village, grid = names
    slots: dict[str, str | int] = {
        "v": village, "t": town, "road": _road(rng, town, village),
        "road2": _road(rng, town, village), "n": rng.randint(1, 48),
        "river": stem(rng.choice((town, village))) + rng.choice(_RIVER_ENDS),
        "shop": rng.choice(_SHOPS), "cause": rng.choice(_CAUSES),
        "money": rng.choice((800, 1000, 1500, 2000, 3000)), "area": rng.randint(2, 12) * 10,
        "depth": rng.randint(1, 6) * 10,
    }
    slots["spot"] = rng.choice(_SPOTS).format(**slots)
    variant = rng.randrange(len(_CATEGORY_TEXTS[category][0]))
    return Scene(county, town, village, grid, category, variant, slots)


def _road(rng: random.Random, town: str, village: str) -> str:
    if rng.random() < 0.25:
        return rng.choice(_COMMON_ROADS)
    return stem(rng.choice((town, village))) + rng.choice(_ROAD_ENDS)


def title(where: Scene) -> str:
    return _CATEGORY_TEXTS[where.category][0][where.variant].format(**where.slots)


def report_detail(rng: random.Random, where: Scene, source: str) -> str:
    body = _CATEGORY_TEXTS[where.category][1][where.variant].format(**where.slots)
    text = _SOURCE_PREFIX[source] + body
    if source in ("hotline_12345", "app", "wechat") and rng.random() < PHONE_SHARE:
        text += f"联系人{rng.choice(_SURNAMES)}{rng.choice(('先生', '女士'))}，电话{_phone(rng)}。"
    return _bounded(text)


def _phone(rng: random.Random) -> str:
    prefix = rng.choice(("138", "139", "135", "137", "158", "159", "188", "189", "136", "152"))
    return prefix + f"{rng.randrange(10**8):08d}"


def handled_detail(rng: random.Random, where: Scene, on_spot: bool) -> str:
    note = rng.choice(_CATEGORY_TEXTS[where.category][2])
    return _bounded(("网格员现场处置：" if on_spot else "") + note)


def step_detail(
    rng: random.Random, step: str, where: Scene, level: int, deadline_ms: int, lower: int = 1
) -> str:
    """Detail of a dispatch/accept/escalate/feedback/close/reopen step held at ``level``."""
    deadline = to_datetime(deadline_ms)
    slots = {
        "unit": unit(where, level), "lower": unit(where, lower), "v": where.village,
        "deadline": f"{deadline.month}月{deadline.day}日{deadline:%H:%M}",
    }
    return _bounded(rng.choice(_STEP_TEXTS[step]).format(**slots))


def on_spot_close(rng: random.Random) -> str:
    return _bounded(rng.choice(_ON_SPOT_CLOSE))


def unit(where: Scene, level: int) -> str:
    """Who holds the incident at ``level``, as a dispatcher would name them."""
    town_office, department = _OFFICES[where.platform]
    if level == 1:
        return where.village + (where.grid if "网格" in where.grid else "网格")
    if level == 2:
        return where.village + ("村委会" if where.village.endswith("村") else "")
    if level == 3:
        return where.town + town_office
    if level == 4:
        return where.county + department
    return "宁波市" + department


def _bounded(text: str) -> str:
    """Keep details in the 20–150 character band the dashboard's layout expects."""
    if len(text) > MAX_DETAIL:
        return text[: MAX_DETAIL - 1] + "…"
    if len(text) < MIN_DETAIL:
        return text + "详细情况见工单附件。"
    return text
