export { writePanel, denormalizeImagenet, type PanelCell } from './panel.js';
export { lineChartSvg, writeLineChart, type Series } from './line-plot.js';
export { barChartSvg, writeBarChart, type BarChartOptions } from './bar-chart.js';
