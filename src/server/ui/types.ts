// The shapes of the API's answers, as the UI reads them (src/server/workspaceApi.ts writes them).

import type { ExampleJson, FeatureData, FeatureRow } from '../../io/dashboardDb.js';

export interface DashboardInfo {
  id: number; saeId: number | null; saePath: string; saeName: string; model: string; hook: string; data: string;
  dSae: number; tokens: number; status: string; createdAt: string; contextSize: number | null; features?: number;
}

export interface SaeInfo {
  id: number; path: string | null; name: string; architecture: string; dIn: number; dSae: number; hook: string | null; model: string | null;
  lastStep: number | null; lastTokens: number | null; train: Record<string, number | null>; eval: Record<string, number | null>; dashboards: number[];
}

export interface RunInfo {
  id: number; kind: string; name: string | null; status: string; createdAt: string; updatedAt: string; saes: SaeInfo[];
}

export interface WorkspaceInfo {
  runs: RunInfo[];
  dashboards: DashboardInfo[];
}

export interface ReportFileInfo {
  path: string; kind: 'json' | 'svg' | 'png'; bytes: number; modified: string;
}

export interface FeaturePage extends FeatureRow {
  dashboard: { id: number; dSae: number; tokens: number; hook: string; saePath: string };
  data: FeatureData;
  /** saelab connect's edges into and out of this feature (feature −1: an SAE's error term). */
  links?: { drivenBy: FeatureLinkJson[]; drives: FeatureLinkJson[] };
  /** saelab duplicates' near-duplicates of this feature in SAEs at other hooks. */
  duplicates?: FeatureDuplicateJson[];
}

export interface FeatureDuplicateJson {
  label: string | null; hook: string | null; feature: number; cosine: number; correlation: number; dashboard: number | null;
}

export interface FeatureLinkJson {
  label: string | null; hook: string | null; feature: number; attribution: number; perFiring: number; dashboard: number | null;
}

export interface FeatureListPage {
  dashboard: number; order: string; offset: number; total: number; features: (FeatureRow & { top: ExampleJson | null })[];
}

export interface TextAnswer {
  tokens: { text: string; special: boolean; features: { feature: number; act: number }[] }[];
  features: { feature: number; maxAct: number; count: number }[];
  truncated: boolean;
}

export interface DuplicatesRunPage {
  run: { id: number; name: string | null; createdAt: string; config: { tokens?: number; cosine?: number; correlation?: number } };
  saes: { id: number; path: string | null; label: string | null; hook: string; dSae: number; dashboard: number | null }[];
  /** [a SAE index, a feature, b SAE index, b feature, cosine, correlation]. */
  pairs: [number, number, number, number, number, number][];
}
