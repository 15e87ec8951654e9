// Types of scripts/gen-contract.mjs, for the drift test.
export interface Contract {
  versions: string[];
  errors: { code: string; kind: string; doc: string }[];
  limits: { name: string; default?: number | null; min: number; max: number; doc: string }[];
  quota: { name: string; default?: number | null; min: number; max: number; doc: string }[];
}
export const CONTRACT_TS: string;
export const SECURITY_MD: string;
export function loadContract(): Contract;
export function renderTs(contract: Contract): string;
export function renderSecurityMd(contract: Contract, current: string): string;
