import { useEffect, useState } from 'react';
import { useApi } from './api.js';
import { BatchView, JobsView } from './components/Jobs.js';
import { CompareView, GenerationView } from './components/GenerationView.js';
import { GenerateForm } from './components/GenerateForm.js';
import { navigate, useRoute, type Route } from './router.js';

export function App() {
  const route = useRoute();
  // Move focus to the new view's heading, so keyboard and screen-reader users land on it.
  useEffect(() => {
    document.querySelector<HTMLElement>('main h2')?.focus({ preventScroll: false });
  }, [route]);
  return (
    <>
      <a className="skip" href="#main">
        Skip to content
      </a>
      <header className="app-header">
        <a className="brand" href="/" onClick={(e) => navigate(e, '/')}>
          OneFlow <span>Playground</span>
        </a>
        <nav aria-label="Main">
          <a href="/" aria-current={route.page === 'new' ? 'page' : undefined} onClick={(e) => navigate(e, '/')}>
            New
          </a>
          <a href="/jobs" aria-current={route.page === 'jobs' ? 'page' : undefined} onClick={(e) => navigate(e, '/jobs')}>
            Jobs
          </a>
        </nav>
        <SettingsMenu />
      </header>
      <main id="main" tabIndex={-1}>
        <Page route={route} />
      </main>
    </>
  );
}

function Page({ route }: { route: Route }) {
  switch (route.page) {
    case 'new':
      return <GenerateForm />;
    case 'generation':
      return <GenerationView key={route.id} id={route.id} />;
    case 'jobs':
      return <JobsView />;
    case 'batch':
      return <BatchView key={route.id} id={route.id} />;
    case 'compare':
      return <CompareView key={`${route.a}-${route.b}`} a={route.a} b={route.b} />;
    case 'missing':
      return (
        <section>
          <h2 tabIndex={-1}>Nothing at {route.path}</h2>
          <p>
            <a href="/" onClick={(e) => navigate(e, '/')}>
              Start a generation
            </a>
          </p>
        </section>
      );
  }
}

function SettingsMenu() {
  const { settings, setSettings } = useApi();
  const [key, setKey] = useState(settings.apiKey);
  return (
    <details className="settings">
      <summary>Settings</summary>
      <form
        className="panel"
        onSubmit={(e) => {
          e.preventDefault();
          setSettings({ ...settings, apiKey: key.trim() });
        }}
      >
        <label htmlFor="api-key">API key</label>
        <input
          id="api-key"
          type="password"
          autoComplete="off"
          value={key}
          onChange={(e) => setKey(e.target.value)}
          placeholder="none (open dev API)"
        />
        <button type="submit">Save key</button>
        <small className="muted">Kept in this browser only; sent as a Bearer header, like any client.</small>
        <label htmlFor="theme">Theme</label>
        <select
          id="theme"
          value={settings.theme}
          onChange={(e) => setSettings({ ...settings, theme: e.target.value as typeof settings.theme })}
        >
          <option value="system">system</option>
          <option value="light">light</option>
          <option value="dark">dark</option>
        </select>
        <label htmlFor="zoom">Image zoom</label>
        <select id="zoom" value={settings.zoom} onChange={(e) => setSettings({ ...settings, zoom: Number(e.target.value) })}>
          {[2, 3, 4, 6, 8].map((z) => (
            <option key={z} value={z}>
              {z}×
            </option>
          ))}
        </select>
      </form>
    </details>
  );
}
