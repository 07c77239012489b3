// One ECharts instance per element: the option goes in, clicks come out.
import { BarChart, LineChart, PieChart } from "echarts/charts";
import type { BarSeriesOption, LineSeriesOption, PieSeriesOption } from "echarts/charts";
import {
  DataZoomComponent,
  GridComponent,
  LegendComponent,
  MarkAreaComponent,
  MarkLineComponent,
  TooltipComponent,
} from "echarts/components";
import type {
  DataZoomComponentOption,
  GridComponentOption,
  LegendComponentOption,
  MarkAreaComponentOption,
  MarkLineComponentOption,
  TooltipComponentOption,
} from "echarts/components";
import * as echarts from "echarts/core";
import { SVGRenderer } from "echarts/renderers";
import { useEffect, useRef } from "preact/hooks";

echarts.use([
  BarChart,
  LineChart,
  PieChart,
  DataZoomComponent,
  GridComponent,
  LegendComponent,
  MarkAreaComponent,
  MarkLineComponent,
  TooltipComponent,
  SVGRenderer,
]);

export type ChartOption = echarts.ComposeOption<
  | BarSeriesOption
  | LineSeriesOption
  | PieSeriesOption
  | DataZoomComponentOption
  | GridComponentOption
  | LegendComponentOption
  | MarkAreaComponentOption
  | MarkLineComponentOption
  | TooltipComponentOption
>;

interface Props {
  option: ChartOption;
  /** What the chart shows, in words, for screen readers. */
  label: string;
  class?: string;
  /** Called with the clicked item's name (a pie slice, a bar). */
  onItemClick?: (name: string) => void;
}

export function Chart({ option, label, class: className, onItemClick }: Props) {
  const element = useRef<HTMLDivElement>(null);
  const chart = useRef<echarts.ECharts | null>(null);
  const clicked = useRef(onItemClick);
  clicked.current = onItemClick;

  useEffect(() => {
    const host = element.current;
    if (!host) return undefined;
    const instance = echarts.init(host, undefined, { renderer: "svg" });
    chart.current = instance;
    instance.on("click", (params) => {
      if (typeof params.name === "string") clicked.current?.(params.name);
    });
    const resize = new ResizeObserver(() => instance.resize());
    resize.observe(host);
    return () => {
      resize.disconnect();
      instance.dispose();
      chart.current = null;
    };
  }, []);

  useEffect(() => {
    // Merge, so zoom and legend choices survive live updates; series are replaced whole.
    chart.current?.setOption(option, { replaceMerge: ["series"] });
  }, [option]);

  return <div ref={element} class={className ?? "chart"} role="img" aria-label={label} />;
}
