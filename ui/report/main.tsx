import { render } from "preact";
import type { ReportData } from "../../src/web/report-types.js";
import { pageData } from "../shared/data.js";
import { Report } from "./Report.js";
import "./style.css";

render(<Report data={pageData<ReportData>()} />, document.getElementById("app") as HTMLElement);
