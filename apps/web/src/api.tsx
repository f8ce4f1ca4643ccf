import { createClient, type OneflowClient } from '@oneflow/sdk/browser';
import { createContext, useContext, useEffect, useMemo, useState, type ReactNode } from 'react';

/** Settings kept in this browser: the API key (same key and tenant rules as any client), theme, zoom. */
export interface Settings {
  apiKey: string;
  theme: 'system' | 'light' | 'dark';
  zoom: number;
}

const SETTINGS_KEY = 'oneflow.settings';
const DEFAULT_SETTINGS: Settings = { apiKey: '', theme: 'system', zoom: 6 };

export function loadSettings(): Settings {
  try {
    const raw = localStorage.getItem(SETTINGS_KEY);
    return raw ? { ...DEFAULT_SETTINGS, ...(JSON.parse(raw) as Partial<Settings>) } : DEFAULT_SETTINGS;
  } catch {
    return DEFAULT_SETTINGS;
  }
}

export function saveSettings(s: Settings): void {
  localStorage.setItem(SETTINGS_KEY, JSON.stringify(s));
}

interface Api {
  client: OneflowClient;
  baseUrl: string;
  settings: Settings;
  setSettings: (s: Settings) => void;
}

const ApiContext = createContext<Api | null>(null);

export function ApiProvider({ children }: { children: ReactNode }) {
  const [settings, setSettingsState] = useState<Settings>(loadSettings);
  const baseUrl = window.location.origin;
  const client = useMemo(
    () => createClient({ baseUrl, ...(settings.apiKey ? { apiKey: settings.apiKey } : {}) }),
    [baseUrl, settings.apiKey],
  );
  useEffect(() => {
    document.documentElement.dataset['theme'] = settings.theme;
  }, [settings.theme]);
  const value = useMemo<Api>(
    () => ({
      client,
      baseUrl,
      settings,
      setSettings: (s) => {
        saveSettings(s);
        setSettingsState(s);
      },
    }),
    [client, baseUrl, settings],
  );
  return <ApiContext.Provider value={value}>{children}</ApiContext.Provider>;
}

export function useApi(): Api {
  const api = useContext(ApiContext);
  if (!api) throw new Error('useApi outside ApiProvider');
  return api;
}

/** Previews by generation, image and step: immutable on the server, so fetched once per page. */
const previews = new Map<string, Promise<string>>();

/** A blob: URL of image `k` of generation `id` at `step` (fetched with the key as a Bearer header). */
export function previewUrl(client: OneflowClient, apiKey: string, id: string, k: number, step: number): Promise<string> {
  const key = `${apiKey}\u0000${id}\u0000${k}\u0000${step}`;
  let p = previews.get(key);
  if (!p) {
    p = client.generations
      .fetchImage(`/generations/${encodeURIComponent(id)}/images/${k}.png`, { step })
      .then((bytes) => URL.createObjectURL(new Blob([bytes as Uint8Array<ArrayBuffer>], { type: 'image/png' })));
    p.catch(() => previews.delete(key));
    previews.set(key, p);
  }
  return p;
}
