/**
 * Word lists for the synthetic demo city (modelled on Hangzhou's districts). Every person,
 * enterprise, road and employer built from them is made up.
 */
import type { Random } from './random.js';

const SURNAMES = [
  '王',
  '李',
  '张',
  '刘',
  '陈',
  '杨',
  '黄',
  '赵',
  '吴',
  '周',
  '徐',
  '孙',
  '马',
  '朱',
  '胡',
  '郭',
  '何',
  '林',
  '高',
  '罗',
  '郑',
  '梁',
  '谢',
  '宋',
  '唐',
  '许',
  '韩',
  '冯',
  '邓',
  '曹',
];

// Given-name characters by the gender they usually suggest, so that names read naturally.
const GIVEN = {
  male: ['伟', '强', '磊', '军', '洋', '勇', '杰', '涛', '明', '超', '刚', '鹏', '辉', '宇', '浩', '博', '轩', '俊', '斌', '峰'],
  female: ['芳', '娜', '敏', '静', '丽', '艳', '娟', '秀', '霞', '玉', '萍', '红', '欣', '怡', '雨', '佳', '婷', '雪', '琳', '颖'],
  either: ['平', '华', '英', '晨', '然', '思', '嘉', '文', '子', '涵', '梓', '安'],
} as const;

/** Current districts of the demo city, with their GB/T 2260 codes. */
export const DISTRICTS = [
  { code: '330102', name: '上城区' },
  { code: '330105', name: '拱墅区' },
  { code: '330106', name: '西湖区' },
  { code: '330108', name: '滨江区' },
  { code: '330109', name: '萧山区' },
  { code: '330110', name: '余杭区' },
] as const;

/** Places of birth outside the city: a resident ID keeps the region where it was first issued. */
export const OTHER_BIRTH_REGIONS = ['330203', '340104', '410105', '360102', '110105', '510107', '320102'] as const;

export const ROADS = ['建设路', '人民路', '解放路', '和平路', '文化路', '新华路', '中山路', '学院路', '光明路', '长江路'] as const;

export const ETHNICITIES = ['汉族', '汉族', '汉族', '汉族', '汉族', '汉族', '汉族', '回族', '满族', '畲族', '壮族', '蒙古族'] as const;

export const TRADE_NAMES = [
  '云帆',
  '青禾',
  '启明',
  '万象',
  '瑞丰',
  '景澜',
  '鸿途',
  '知行',
  '拾光',
  '嘉禾',
  '蓝湾',
  '星河',
  '恒远',
  '德信',
] as const;

export const INDUSTRIES = [
  { suffix: '科技', scope: '技术开发、技术咨询、技术服务；软件开发' },
  { suffix: '餐饮管理', scope: '餐饮服务；餐饮管理；食品销售' },
  { suffix: '贸易', scope: '货物进出口；日用百货、服装、电子产品销售' },
  { suffix: '文化传媒', scope: '文化艺术交流活动策划；广告设计、制作、发布' },
  { suffix: '建筑工程', scope: '建设工程施工；建筑材料销售；工程管理服务' },
  { suffix: '生物医药', scope: '医学研究和试验发展；第一类医疗器械销售' },
  { suffix: '物流', scope: '道路货物运输；仓储服务；国内货物运输代理' },
  { suffix: '教育咨询', scope: '教育咨询服务；会议及展览服务' },
] as const;

export const UNIVERSITIES = [
  // Institution codes in the 9xxxx range so they never match a real university's code.
  { code: '90101', name: '东南示范大学' },
  { code: '90102', name: '江南理工学院' },
  { code: '90103', name: '钱塘师范大学' },
  { code: '90104', name: '西湖医科大学' },
] as const;

export const MAJORS = [
  '计算机科学与技术',
  '法学',
  '会计学',
  '临床医学',
  '土木工程',
  '汉语言文学',
  '金融学',
  '机械工程',
  '英语',
  '公共管理',
] as const;

/** A synthetic two- or three-character name; `surname` keeps a family together. */
export function personName(random: Random, male: boolean, surname?: string): string {
  const family = surname ?? random.pick(SURNAMES);
  const own = male ? GIVEN.male : GIVEN.female;
  const first = random.pick(own);
  return random.chance(0.6) ? family + random.pick([...own, ...GIVEN.either]) + first : family + first;
}

export function streetAddress(random: Random, district: string): string {
  return `浙江省杭州市${district}${random.pick(ROADS)}${random.int(1, 399)}号${random.int(1, 30)}幢${random.int(1, 6)}0${random.int(1, 4)}室`;
}
