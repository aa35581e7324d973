// Stylesheets are imported for their side effect: vite bundles them into a file the page links.
declare module '*.css';
